// nats_origin.hpp -- the origin's KV bucket, written as edgekeyctl writes it
// (the record as JSON with origin_written_at stamped; a revocation is a put,
// a removal a KV delete), for the NATS daemon and fault tests. A failed call
// is a test failure (gtest EXPECT), not an exception.
#pragma once

#include "nats_servers.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/nats_client.hpp"
#include "sync/upstream/nats/nats_options.hpp"

#include <gtest/gtest.h>
#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace edgekey::test {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Origin {
 public:
  explicit Origin(const sync::NatsOptions &o) : client_(o, "test-origin") {
    EXPECT_EQ(js_KeyValue(&kv_, client_.origin(), o.bucket.c_str()), NATS_OK);
  }
  ~Origin() {
    if (kv_) kvStore_Destroy(kv_);
  }
  Origin(const Origin &) = delete;
  Origin &operator=(const Origin &) = delete;

  uint64_t put(sync::KeyRecord r) {
    r.origin_written_at = now_ms();
    return put_raw(r.id, sync::encode_record_json(r));
  }
  // Any value under `key` (malformed records).
  uint64_t put_raw(const std::string &key, const std::string &value) {
    uint64_t rev = 0;
    EXPECT_EQ(kvStore_Put(&rev, kv_, key.c_str(), value.data(), int(value.size())), NATS_OK) << key;
    return rev;
  }
  uint64_t revoke(sync::KeyRecord r) {
    r.status = sync::KeyStatus::Revoked;
    r.revoked_at = now_ms() / 1000;
    return put(std::move(r));
  }
  void remove(const std::string &key) { EXPECT_EQ(kvStore_Delete(kv_, key.c_str()), NATS_OK) << key; }
  // The origin's current record for `id`; nullopt when removed or never written.
  std::optional<sync::KeyRecord> get(const std::string &id) {
    kvEntry *e = nullptr;
    if (kvStore_Get(&e, kv_, id.c_str()) != NATS_OK) return std::nullopt;
    std::optional<sync::KeyRecord> out;
    if (kvEntry_Operation(e) == kvOp_Put) {
      auto r = sync::decode_record_json(
          std::string_view(static_cast<const char *>(kvEntry_Value(e)), size_t(kvEntry_ValueLen(e))));
      EXPECT_TRUE(r.ok()) << id;
      if (r.ok()) out = std::move(*r.value);
    }
    kvEntry_Destroy(e);
    return out;
  }

 private:
  sync::NatsClient client_;
  kvStore *kv_ = nullptr;
};

// Starts `topo` and opens its origin's bucket; nullptr, after a test failure
// that says why, when the servers did not start.
inline std::unique_ptr<Origin> start_with_origin(NatsTopology &topo) {
  std::string why;
  if (!topo.start(&why)) {
    ADD_FAILURE() << why;
    return nullptr;
  }
  return std::make_unique<Origin>(topo.origin_options());
}

}  // namespace edgekey::test
