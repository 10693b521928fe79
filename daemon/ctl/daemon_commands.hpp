// daemon_commands.hpp -- `edgekeyctl validate` and `edgekeyctl status`:
// questions to the running edgekeyd over its Unix socket (cfg.socket.path).
//
// Both return an exit code or throw CtlError (kExitUnavailable when the
// daemon cannot be reached; see socket_client.hpp).
#pragma once

#include "daemon/ctl/context.hpp"

#include <chrono>
#include <string>

namespace edgekey::ctl {

struct ValidateArgs {
  std::string token;       // the bare token, or a whole "Bearer …" value
  std::string permission;  // X-Edgekey-Permission; "" = none
  std::string ip;          // X-Real-IP; "" = none
  std::string origin;      // Origin; "" = none
  std::string env;         // X-Edgekey-Env; "" = any
  std::chrono::milliseconds timeout{5000};
};

// GET /v1/validate. Prints "200 ok key_… (workspace, role)" (401/403: the
// code, and the key when one was found) or, with ctx.json, the daemon's JSON
// body. Returns kExitOk for 200 and kExitRefused for 401/403; 503 prints the
// answer too and returns kExitUnavailable; any other answer throws
// CtlError(kExitUnavailable).
int validate_key(const Context &ctx, const ValidateArgs &a);

// GET /v1/status: indented "key: value" lines, or with ctx.json the JSON as
// received. 503 prints it and returns kExitUnavailable; other non-200
// answers throw CtlError(kExitUnavailable).
int daemon_status(const Context &ctx, std::chrono::milliseconds timeout);

}  // namespace edgekey::ctl
