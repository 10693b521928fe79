// validate_route.hpp -- GET /v1/validate: the socket face of ek_validate.
//
// Request: Authorization (raw header value), X-Edgekey-Permission,
// X-Real-IP or else the first address of X-Forwarded-For, Origin,
// X-Edgekey-Env. Answer: 200/401/403/503 with X-Edgekey-Code,
// X-Edgekey-Key-Id, X-Edgekey-Workspace (and -Role, -Env, -Type) headers and
// the JSON body of DESIGN.md. Validation is the library's own, on a
// read-only mapping of the daemon's table, so the socket and the library
// can never disagree.
#pragma once

#include "daemon/edgekeyd/revoked_use_log.hpp"
#include "daemon/http/message.hpp"

#include <edgekey/validator.hpp>

#include <array>
#include <cstdint>
#include <string>

namespace edgekey::daemon {

class ValidateRoute {
 public:
  explicit ValidateRoute(std::string table_name) : table_(std::move(table_name)) {}
  void handle(const http::Request &req, http::Response &res);

  // Answers by ek_code, for /metrics.
  const std::array<uint64_t, EK_CODE_COUNT_> &by_code() const { return by_code_; }
  uint64_t revoked_uses() const { return revoked_.uses(); }

 private:
  Result validate(const http::Request &req);

  std::string table_;
  Validator validator_;
  RevokedUseLog revoked_;
  std::array<uint64_t, EK_CODE_COUNT_> by_code_{};
};

}  // namespace edgekey::daemon
