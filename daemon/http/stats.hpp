// Counters of the HTTP server, for /metrics. Written and read on the loop
// thread only (plain integers, no atomics): read them from a loop callback.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::daemon::http {

struct RejectCounts {
  std::uint64_t header_too_large = 0;  // 431
  std::uint64_t body_too_large = 0;    // 413
  std::uint64_t bad_request = 0;       // 400 (parse errors) and 505
  std::uint64_t timeout = 0;           // 408
  std::uint64_t overload = 0;          // 503: over max_connections
};

struct ServerStats {
  std::uint64_t connections_open = 0;   // being served now (not counting refused ones)
  std::uint64_t connections_total = 0;  // accepted and served since start
  std::uint64_t requests_total = 0;     // complete requests handed to the handler
  std::uint64_t idle_closed = 0;        // closed by the keep-alive idle timeout
  // Every response written, the server's own included, by status / 100:
  // index 1 = 1xx (100 Continue), 2 = 2xx, ... 5 = 5xx.
  std::array<std::uint64_t, 6> responses_by_class{};
  RejectCounts rejected;

  void count_response(int status) noexcept {
    const int cls = status / 100;
    if (cls >= 1 && cls <= 5) ++responses_by_class[static_cast<std::size_t>(cls)];
  }

  // Appends the counters in Prometheus text format, names starting with
  // prefix (e.g. "edgekey_http"): <prefix>_connections_open (gauge),
  // <prefix>_connections_total, <prefix>_requests_total,
  // <prefix>_idle_closed_total, <prefix>_responses_total{class="2xx"} and
  // <prefix>_rejected_total{reason="header_too_large"|"body_too_large"|
  // "bad_request"|"timeout"|"overload"}.
  void append_prometheus(std::string& out, std::string_view prefix) const;
};

}  // namespace edgekey::daemon::http
