// js_delivery.hpp -- what edgekeyd reads from one JetStream delivery of the
// KV stream, without allocating (natsMsg_GetMetaData allocates the whole
// metadata, three strings included, for every message of a snapshot).
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <string_view>

namespace edgekey::sync {

struct Delivery {
  std::string_view key;   // the subject minus "$KV.<bucket>."; empty if it lacks the prefix
  std::string_view data;  // the value (a JSON record for a put)
  bool removal = false;   // KV-Operation DEL or PURGE
  uint64_t seq = 0;       // stream sequence; 0 = not a JetStream delivery
  uint64_t pending = 0;   // messages still pending for the consumer after this one
};

// Views into `msg`: valid while it lives. `prefix` is "$KV.<bucket>.".
Delivery read_delivery(natsMsg *msg, std::string_view prefix);

// The stream sequence and pending count of a JetStream delivery's reply
// subject: "$JS.ACK." then 7 tokens (stream, consumer, delivered, stream
// seq, consumer seq, time, pending) or 9 and more (domain and account hash
// first), as libnats's js_getMetaData reads it. False if it is not one.
bool parse_ack_reply(std::string_view reply, uint64_t &seq, uint64_t &pending);

}  // namespace edgekey::sync
