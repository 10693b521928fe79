// nats_streams.hpp -- setting up the JetStream side (NATS.md): the origin's
// key-value bucket and a region's mirror of it. edgekeyctl's `nats
// init-origin` / `nats init-region` and the tests call these.
#pragma once

#include "sync/nats/nats_client.hpp"

#include <cstdint>
#include <string>

namespace edgekey::sync {

// What the stream looks like now.
struct StreamState {
  std::string name;
  uint64_t messages = 0;
  uint64_t first_seq = 0, last_seq = 0;
  int64_t created_ns = 0;        // the stream's creation time (a recreated stream differs)
  bool is_mirror = false;
  uint64_t mirror_lag = 0;       // messages the mirror is behind its origin
  int64_t mirror_active_ms = -1; // since the mirror last heard from its origin; -1 = unknown
};

// Creates the origin bucket opts.bucket in opts.origin_domain: history 1,
// file storage, no TTL (a TTL or purged delete markers would let a resuming
// edge miss revocations). Idempotent: an existing bucket with these settings
// is fine. Returns "created" or "exists". Throws NatsError.
std::string init_origin(NatsClient &c, const NatsOptions &opts);

// Creates opts.stream in this region's domain (opts.domain) as a mirror of
// the origin bucket's stream in opts.origin_domain, with the settings NATS.md
// found necessary (AllowRollup, else purges are lost; DenyDelete;
// MaxMsgsPerSubject 1; AllowDirect, MirrorDirect). Both domains must be set
// and differ. Idempotent like init_origin. Throws NatsError.
std::string init_region(NatsClient &c, const NatsOptions &opts);

// The state of `stream` in the region's domain. Throws NatsError
// (a missing stream says to run `edgekeyctl nats init-region`).
StreamState region_stream_state(NatsClient &c, const NatsOptions &opts);

}  // namespace edgekey::sync
