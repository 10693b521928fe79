// nats_upstream.hpp -- edgekeyctl's side of a NATS JetStream upstream
// (`upstream: nats`, NATS.md): the options a command needs, a connection to
// them, and libnats failures turned into CtlErrors that name the bucket or
// stream, the domain, the servers and what to do.
//
// Exit codes (errors.hpp): servers or a JetStream domain that do not answer
// (refused, timed out, no responders, connection lost) are kExitUnavailable;
// an unusable password, credentials or TLS file is kExitUsage; anything else
// is the caller's choice (kExitKeysetIo for the key store).
#pragma once

#include "daemon/config/config.hpp"
#include "daemon/ctl/errors.hpp"
#include "sync/upstream/nats/nats_client.hpp"

#include <nats/nats.h>

#include <memory>
#include <string>
#include <string_view>

namespace edgekey::ctl {

// cfg.upstream.nats. Throws CtlError(kExitUsage) naming `command`, the
// config file and the config key when the config's upstream is a keyset file.
const sync::NatsOptions &nats_options(const daemon::Config &cfg, std::string_view command);

// "nats://a:4222, nats://b:4222".
std::string server_list(const sync::NatsOptions &o);

// `domain "eu"`, or `the default domain` when empty (for messages).
std::string domain_text(const std::string &domain);

// Connects as sync::NatsClient does. Throws CtlError: kExitUnavailable naming
// the servers when none answers, kExitUsage for an unusable password,
// credentials or TLS file (config keys upstream.nats.*).
std::unique_ptr<sync::NatsClient> connect_nats(const sync::NatsOptions &o);

// True for statuses meaning nothing answered: a timeout, no responders (no
// JetStream in that domain is reachable), a closed or lost connection.
bool nats_unreachable(natsStatus s);

// True when the failed call `s` was refused for a wrong last sequence (a
// compare-and-set conflict: the key changed since it was read). Reads
// libnats's thread-local last error, so call it right after the failure.
bool nats_conflict(natsStatus s);

// A CtlError for the failed libnats call described by `what` (e.g. `reading
// bucket "keys" in domain "eu"`) in JetStream domain `domain`:
// kExitUnavailable when nats_unreachable(s), with a hint about that domain's
// server and the leafnode link; otherwise `otherwise` and `hint`. The message
// carries libnats's detail and the servers.
CtlError nats_failure(natsStatus s, const std::string &what, const sync::NatsOptions &o, const std::string &domain,
                      ExitCode otherwise, const std::string &hint);

}  // namespace edgekey::ctl
