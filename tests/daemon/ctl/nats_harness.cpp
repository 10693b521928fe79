#include "nats_harness.hpp"

#include "sync/record/record_json.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

namespace edgekey::ctl::test {

Bucket::Bucket(const sync::NatsOptions &origin) : client_(std::make_unique<sync::NatsClient>(origin, "ctl-test")) {
  const natsStatus s = js_KeyValue(&kv_, client_->origin(), origin.bucket.c_str());
  if (s != NATS_OK) throw std::runtime_error("bucket " + origin.bucket + ": " + sync::nats_error_text(s));
}

Bucket::~Bucket() {
  if (kv_) kvStore_Destroy(kv_);
}

std::vector<BucketEntry> Bucket::entries() {
  std::vector<BucketEntry> out;
  kvWatcher *w = nullptr;
  if (kvStore_WatchAll(&w, kv_, nullptr) != NATS_OK) throw std::runtime_error("watch");
  for (;;) {
    kvEntry *e = nullptr;
    if (kvWatcher_Next(&e, w, 5000) != NATS_OK) {
      kvWatcher_Destroy(w);
      throw std::runtime_error("watch next");
    }
    if (!e) break;
    BucketEntry b;
    b.key = kvEntry_Key(e);
    if (kvEntry_ValueLen(e) > 0) b.value.assign(static_cast<const char *>(kvEntry_Value(e)), size_t(kvEntry_ValueLen(e)));
    b.revision = kvEntry_Revision(e);
    b.op = kvEntry_Operation(e);
    out.push_back(std::move(b));
    kvEntry_Destroy(e);
  }
  kvWatcher_Destroy(w);
  return out;
}

std::optional<BucketEntry> Bucket::get(const std::string &key) {
  kvEntry *e = nullptr;
  const natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s == NATS_NOT_FOUND) return std::nullopt;
  if (s != NATS_OK) throw std::runtime_error("get " + key + ": " + sync::nats_error_text(s));
  BucketEntry b;
  b.key = key;
  if (kvEntry_ValueLen(e) > 0) b.value.assign(static_cast<const char *>(kvEntry_Value(e)), size_t(kvEntry_ValueLen(e)));
  b.revision = kvEntry_Revision(e);
  b.op = kvEntry_Operation(e);
  kvEntry_Destroy(e);
  return b;
}

uint64_t Bucket::put(const std::string &key, const std::string &value) {
  uint64_t rev = 0;
  const natsStatus s = kvStore_Put(&rev, kv_, key.c_str(), value.data(), int(value.size()));
  if (s != NATS_OK) throw std::runtime_error("put " + key + ": " + sync::nats_error_text(s));
  return rev;
}

std::vector<sync::KeyRecord> Bucket::records() {
  std::vector<sync::KeyRecord> out;
  for (const auto &e : entries()) {
    if (e.op != kvOp_Put) continue;
    auto r = sync::decode_record_json(e.value);
    EXPECT_TRUE(r.ok()) << e.key << ": " << r.error;
    if (r.ok()) out.push_back(*r.value);
  }
  return out;
}

uint64_t Bucket::last_sequence() {
  jsStreamInfo *si = nullptr;
  if (js_GetStreamInfo(&si, client_->origin(), "KV_keys", nullptr, nullptr) != NATS_OK)
    throw std::runtime_error("stream info");
  const uint64_t seq = si->State.LastSeq;
  jsStreamInfo_Destroy(si);
  return seq;
}

NatsScratch::NatsScratch(std::vector<std::string> regions, const std::string &extra) : topo(std::move(regions)) {
  started = topo.start(&why);
  scratch = std::make_unique<Scratch>(extra, topo.upstream_yaml(topo.region(0)));
}

std::string NatsScratch::where() {
  return "NATS bucket \"keys\" in domain \"eu\" (servers " + topo.region(0).url() + ")";
}

}  // namespace edgekey::ctl::test
