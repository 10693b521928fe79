#include "daemon/http/histogram.hpp"

#include <cinttypes>
#include <cstdio>

namespace edgekey::daemon::http {

namespace {

// Microseconds as exact decimal seconds: 5 -> "0.000005", 2500 -> "0.0025".
std::string seconds_from_us(std::uint64_t us) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%" PRIu64 ".%06" PRIu64, us / 1'000'000, us % 1'000'000);
  std::string s(buf);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

void LatencyHistogram::observe(std::chrono::nanoseconds d) noexcept {
  const std::uint64_t ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
  std::size_t i = 0;
  while (i < bounds_us_.size() && ns > bounds_us_[i] * 1000) ++i;
  ++counts_[i];
  ++count_;
  sum_ns_ += ns;
}

std::string LatencyHistogram::render_prometheus(std::string_view name,
                                                std::string_view help) const {
  std::string out;
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" histogram\n");
  append_series(out, name, {});
  return out;
}

void LatencyHistogram::append_series(std::string& out, std::string_view name,
                                     std::string_view labels) const {
  const std::string sep = labels.empty() ? std::string() : std::string(labels) + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    cumulative += counts_[i];
    const std::string le = i < bounds_us_.size() ? seconds_from_us(bounds_us_[i]) : "+Inf";
    out.append(name).append("_bucket{").append(sep).append("le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).push_back('\n');
  }
  std::string braces;  // appended, not "{" + labels + "}" (a GCC 12 -Wrestrict false positive)
  if (!labels.empty()) braces.append("{").append(labels).append("}");
  char sum[48];
  std::snprintf(sum, sizeof sum, "%" PRIu64 ".%09" PRIu64, sum_ns_ / 1'000'000'000,
                sum_ns_ % 1'000'000'000);
  out.append(name).append("_sum").append(braces).append(" ").append(sum).push_back('\n');
  out.append(name).append("_count").append(braces).append(" ");
  out.append(std::to_string(count_)).push_back('\n');
}

}  // namespace edgekey::daemon::http
