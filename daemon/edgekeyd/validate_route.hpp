// validate_route.hpp -- /v1/validate (any method; also /v1/validate/...):
// the socket face of ek_validate.
//
// Request: Authorization (raw header value), X-Edgekey-Permission,
// X-Real-IP or else the first address of X-Forwarded-For, Origin,
// X-Edgekey-Env. Answer: 200/401/403/503 with X-Edgekey-Code,
// X-Edgekey-Key-Id, X-Edgekey-Workspace (and -Role, -Env, -Type) headers,
// WWW-Authenticate (RFC 6750) or Retry-After, and the JSON body of
// docs/design.md, both rendered by libedgekey (ek_result_json,
// ek_result_challenge) as the nginx module renders them. Validation is the library's own, on a
// read-only mapping of the daemon's table, so the socket and the library
// can never disagree.
#pragma once

#include "daemon/edgekeyd/revoked_use_log.hpp"
#include "daemon/http/message.hpp"

#include <edgekey/validator.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace edgekey::daemon {

class ValidateRoute {
 public:
  explicit ValidateRoute(std::string table_name) : table_(std::move(table_name)) {}
  // /v1/validate and every path under /v1/validate/, whatever the method:
  // Envoy's ext_authz (HTTP) sends the original method and appends the
  // original path to its path_prefix. The body is never looked at.
  static bool serves(std::string_view path) {
    constexpr std::string_view kPath = "/v1/validate";
    return path.substr(0, kPath.size()) == kPath && (path.size() == kPath.size() || path[kPath.size()] == '/');
  }
  void handle(const http::Request &req, http::Response &res);

  // Answers by ek_code, for /metrics.
  const std::array<uint64_t, EK_CODE_COUNT_> &by_code() const { return by_code_; }
  uint64_t revoked_uses() const { return revoked_.uses(); }
  // One log of revoked keys' uses for every path (the usage collector's too).
  RevokedUseLog &revoked_log() { return revoked_; }
  // Called with every answer (edgekeyd notes the found key's use).
  std::function<void(const Result &)> on_answer;

 private:
  Result validate(const http::Request &req);

  std::string table_;
  Validator validator_;
  RevokedUseLog revoked_;
  std::array<uint64_t, EK_CODE_COUNT_> by_code_{};
};

}  // namespace edgekey::daemon
