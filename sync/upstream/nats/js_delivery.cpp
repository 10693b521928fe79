// js_delivery.cpp -- see js_delivery.hpp.
#include "sync/upstream/nats/js_delivery.hpp"

#include <cstring>

namespace edgekey::sync {

namespace {

// Digits only, at most 19 of them (what nats_ParseInt64 accepts).
bool parse_number(std::string_view t, uint64_t &out) {
  if (t.empty() || t.size() > 19) return false;
  uint64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

bool parse_ack_reply(std::string_view reply, uint64_t &seq, uint64_t &pending) {
  constexpr std::string_view kPrefix = "$JS.ACK.";
  if (reply.substr(0, kPrefix.size()) != kPrefix) return false;
  reply.remove_prefix(kPrefix.size());
  std::string_view tokens[9];
  size_t n = 0;
  while (n < 9) {
    const size_t dot = reply.find('.');
    tokens[n++] = reply.substr(0, dot);
    if (dot == std::string_view::npos) {
      reply = {};
      break;
    }
    reply.remove_prefix(dot + 1);
  }
  size_t first;  // the index of the stream name
  if (n == 7 && reply.empty()) first = 0;
  else if (n == 9) first = 2;  // further tokens (v2's random suffix) are ignored
  else return false;
  return parse_number(tokens[first + 3], seq) && parse_number(tokens[first + 6], pending);
}

Delivery read_delivery(natsMsg *msg, std::string_view prefix) {
  Delivery d;
  if (const char *subject = natsMsg_GetSubject(msg)) {
    const std::string_view s(subject);
    if (s.substr(0, prefix.size()) == prefix) d.key = s.substr(prefix.size());
  }
  const char *op = nullptr;
  if (natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK && op)
    d.removal = std::strcmp(op, "DEL") == 0 || std::strcmp(op, "PURGE") == 0;
  if (const char *data = natsMsg_GetData(msg)) d.data = std::string_view(data, size_t(natsMsg_GetDataLength(msg)));
  const char *reply = natsMsg_GetReply(msg);
  if (!reply || !parse_ack_reply(reply, d.seq, d.pending)) {
    jsMsgMetaData *meta = nullptr;  // anything unusual: libnats's own reading
    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
      d.seq = meta->Sequence.Stream;
      d.pending = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
    }
  }
  return d;
}

}  // namespace edgekey::sync
