// nats_streams.hpp -- setting up the JetStream side (NATS.md): the origin's
// key-value bucket and a region's mirror of it. edgekeyctl's `nats
// init-origin` / `nats init-region` and the tests call these.
#pragma once

#include "sync/upstream/nats/nats_client.hpp"

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
  // A replicated stream without a working quorum: no leader (lost, or one
  // being elected), or a leader that has not heard from a majority of its
  // peers for 5 s (nats-server 2.9 keeps a cut-off leader's title for up to
  // ~20 s). It takes nothing from the origin meanwhile, though the server
  // that answered still answers PINGs and stream info.
  bool no_quorum = false;
};

// Creates the origin bucket opts.bucket in opts.origin_domain: history 1,
// file storage, no TTL (a TTL or purged delete markers would let a resuming
// edge miss revocations). Idempotent: an existing bucket with these settings
// is fine. Returns "created" or "exists". Throws NatsError.
std::string init_origin(NatsClient &c, const NatsOptions &opts);

// Creates key-value bucket `bucket` in opts.origin_domain with those
// settings (init_origin's, and the usage bucket's), and entries that expire
// `ttl_s` seconds after their last put (0 = never); `what` names its use in
// the error. "created" or "exists" (an existing bucket is left as it is).
// Throws NatsError.
std::string init_origin_bucket(NatsClient &c, const NatsOptions &opts, const std::string &bucket,
                               const std::string &what, int64_t ttl_s = 0);

// Creates opts.stream in this region's domain (opts.domain) as a mirror of
// the origin bucket's stream in opts.origin_domain, with the settings NATS.md
// found necessary (AllowRollup, else purges are lost; DenyDelete;
// MaxMsgsPerSubject 1; AllowDirect, MirrorDirect), stored on `replicas`
// servers of the region's cluster (3 for a 3-node cluster: the mirror then
// survives the loss of one). Both domains must be set and differ. Idempotent
// like init_origin; an existing mirror with another replica count is scaled
// to `replicas` ("updated"). `replicas` 0: 1 for a new mirror, an existing
// one keeps its count (a rerun never scales a mirror down). Throws NatsError.
std::string init_region(NatsClient &c, const NatsOptions &opts, int replicas = 0);

// The state of `stream` in the region's domain. Throws NatsError
// (a missing stream says to run `edgekeyctl nats init-region`).
StreamState region_stream_state(NatsClient &c, const NatsOptions &opts);

}  // namespace edgekey::sync
