// errors.hpp -- edgekeyctl's exit codes and the one exception its commands
// throw to end with one of them.
#pragma once

#include <stdexcept>
#include <string>

namespace edgekey::ctl {

// The process exit codes (also listed in every --help footer).
enum ExitCode : int {
  kExitOk = 0,           // success; validate: the daemon answered 200
  kExitRefused = 1,      // validate: the daemon answered 401 or 403
  kExitUsage = 2,        // bad command line, bad config, or a request the config forbids
  kExitNotFound = 3,     // no key with that id
  kExitUnavailable = 4,  // the daemon is unreachable, timed out, or answered 503 (or nonsense);
                         // or the NATS upstream's servers or JetStream domain do not answer
  kExitKeysetIo = 5,     // the keyset file (or NATS bucket) cannot be read, parsed, locked or written
};

// The --help footer text describing the exit codes.
inline constexpr const char *kExitCodesHelp =
    "Exit codes:\n"
    "  0  success (validate: the key is accepted, HTTP 200)\n"
    "  1  validate: the key is refused (HTTP 401 or 403)\n"
    "  2  usage or config error (also: a request the config forbids)\n"
    "  3  not found: no key with that id\n"
    "  4  edgekeyd is unreachable, timed out, or answered 503; or the NATS upstream does not answer\n"
    "  5  keyset file or NATS bucket error (unreadable, unparsable, missing, lock or write failure)\n";

// A failure that ends the command: what() is one line without the
// "edgekeyctl: " prefix, naming the thing and what to do about it.
struct CtlError : std::runtime_error {
  CtlError(ExitCode c, const std::string &message) : std::runtime_error(message), code(c) {}
  ExitCode code;
};

}  // namespace edgekey::ctl
