// socket_client.hpp -- one HTTP/1.1 GET over a Unix stream socket, the way
// edgekeyctl talks to edgekeyd. The response is parsed by http-parser
// (Content-Length, chunked, or read-until-close bodies).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::ctl {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // in arrival order; names as sent
  std::string body;    // decoded (chunked framing removed)

  // The first header named `name` (ASCII case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
};

inline constexpr size_t kMaxResponseBytes = 1 << 20;

// Connects to `socket_path`, sends `GET target` with `headers` plus Host,
// User-Agent and `Connection: close`, and reads one complete response; all of
// it within `timeout`. Throws CtlError:
//   kExitUnavailable  cannot connect (the message names the socket path and
//                     says whether nothing is there, nothing listens, or
//                     access is denied), timeout, the peer closed early, the
//                     answer is not HTTP/1.x or exceeds kMaxResponseBytes;
//   kExitUsage        a header value with CR, LF or NUL (it would split the
//                     request), or a path longer than a Unix socket allows.
HttpResponse unix_http_get(const std::string &socket_path, const std::string &target, const HeaderList &headers,
                           std::chrono::milliseconds timeout);

}  // namespace edgekey::ctl
