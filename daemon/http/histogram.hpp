// Fixed-bucket latency histogram rendered as a Prometheus histogram.
// Single-threaded: observe and render on the same thread (the loop).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::daemon::http {

class LatencyHistogram {
 public:
  // Upper bounds (inclusive) in microseconds; one more bucket, +Inf, follows.
  static constexpr std::array<std::uint64_t, 11> kBoundsUs{5,    10,   25,   50,   100,  250,
                                                           500,  1000, 2500, 5000, 10000};
  static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

  // Default bounds: kBoundsUs (request latencies). Other bounds (ascending,
  // in microseconds) suit other spans, e.g. sync propagation in milliseconds.
  LatencyHistogram() : LatencyHistogram(std::vector<std::uint64_t>(kBoundsUs.begin(), kBoundsUs.end())) {}
  explicit LatencyHistogram(std::vector<std::uint64_t> bounds_us)
      : bounds_us_(std::move(bounds_us)), counts_(bounds_us_.size() + 1) {}

  void observe(std::chrono::nanoseconds d) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::chrono::nanoseconds sum() const noexcept { return std::chrono::nanoseconds(sum_ns_); }
  // Observations in bucket i alone (not cumulative); i == bounds().size() is +Inf.
  std::uint64_t bucket(std::size_t i) const noexcept { return counts_[i]; }
  const std::vector<std::uint64_t>& bounds_us() const noexcept { return bounds_us_; }

  // A whole metric family: HELP, TYPE, then the series without labels.
  // Bounds and sum are rendered in seconds (Prometheus' base unit), so
  // name it e.g. "edgekey_http_request_duration_seconds".
  std::string render_prometheus(std::string_view name, std::string_view help) const;

  // One series of a family whose HELP/TYPE lines the caller writes, for
  // labelled histograms: labels is the inside of the braces, e.g.
  // `path="/v1/validate"`, or empty.
  void append_series(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::vector<std::uint64_t> bounds_us_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
};

}  // namespace edgekey::daemon::http
