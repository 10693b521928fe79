// nats_harness.hpp -- edgekeyctl against real nats-server processes: a
// topology (origin hub "eu", leaf regions) with a Scratch whose config
// follows a region, and direct looks into the bucket with libnats,
// independent of the NatsKeyRepository under test.
#pragma once

#include "eventually.hpp"
#include "harness.hpp"
#include "nats_servers.hpp"
#include "sync/record/key_record.hpp"

#include <nats/nats.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgekey::ctl::test {

using edgekey::test::eventually;

// The latest entry of a key as the bucket holds it.
struct BucketEntry {
  std::string key;
  std::string value;
  uint64_t revision = 0;
  kvOperation op = kvOp_Put;
};

// A client of the origin bucket, for looking and meddling.
class Bucket {
 public:
  explicit Bucket(const sync::NatsOptions &origin);
  ~Bucket();
  Bucket(const Bucket &) = delete;
  Bucket &operator=(const Bucket &) = delete;

  // The latest entry of every key, deletes and purges included, in stream order.
  std::vector<BucketEntry> entries();
  std::optional<BucketEntry> get(const std::string &key);  // nullopt if absent or deleted
  uint64_t put(const std::string &key, const std::string &value);  // returns the revision
  // The decoded records of every live entry (fails the test on one that does not decode).
  std::vector<sync::KeyRecord> records();
  uint64_t last_sequence();  // of the bucket's stream

 private:
  std::unique_ptr<sync::NatsClient> client_;
  kvStore *kv_ = nullptr;
};

// A started topology (hub "eu" + the given regions) and a Scratch whose
// config follows region 0 through its leaf server, as an edge host's does.
struct NatsScratch {
  explicit NatsScratch(std::vector<std::string> regions = {"in"}, const std::string &extra = "");
  edgekey::test::NatsTopology topo;
  bool started = false;
  std::string why;
  std::unique_ptr<Scratch> scratch;
  // `NATS bucket "keys" in domain "eu" (servers <region 0's url>)`, edgekeyctl's name for the store.
  std::string where();
};

}  // namespace edgekey::ctl::test
