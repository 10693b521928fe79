// nats_commands.hpp -- `edgekeyctl nats init-origin` and `edgekeyctl nats
// init-region [DOMAIN]`: setting up the JetStream side of a NATS upstream
// (NATS.md) with sync::init_origin / sync::init_region.
//
// Both are idempotent (a second run reports that the bucket or stream exists
// and succeeds), print one line (JSON with ctx.json: {"bucket", "stream",
// "domain", "origin_domain", "servers", "result": "created"|"exists"|"updated"}), and
// return kExitOk or throw CtlError: kExitUsage when the config has no NATS
// upstream or lacks the domains a command needs (naming the config key),
// kExitUnavailable when the servers or the domain do not answer, and
// kExitKeysetIo when JetStream refuses.
#pragma once

#include "daemon/ctl/context.hpp"

#include <string>

namespace edgekey::ctl {

// Creates the origin bucket upstream.nats.bucket in upstream.nats.origin_domain.
int nats_init_origin(const Context &ctx);

// Creates the mirror stream upstream.nats.stream of the origin bucket in
// `domain` (default, when empty: upstream.nats.domain, this host's region)
// on `replicas` servers (see sync::init_region; 0 = 1, or as it is).
int nats_init_region(const Context &ctx, const std::string &domain, int replicas = 0);

}  // namespace edgekey::ctl
