// edgekeyd at its memory limit: tests/support/fail_alloc.c, preloaded, makes
// every allocation of 1 MiB or more fail while a file the test creates
// exists (what a container near its limit does to the large ones: a copy of
// every record, a read buffer, an index). edgekeyd must serve on with the
// keys it has, say what failed once, try again, recover when memory comes
// back, and stop cleanly (exit 0) even when its last snapshot cannot be made.
// Skipped under sanitizers, which replace malloc themselves.
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"
#include "nats_origin.hpp"

#include "sync/upstream/snapshot.hpp"

#include <nlohmann/json.hpp>

#include <sys/wait.h>

using namespace edgekey;
using namespace edgekey::test;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Enough keys that a copy of their records is well over 1 MiB (~370 bytes
// each), for the file upstream and for NATS (whose origin takes a put each).
constexpr size_t kKeys = 20000;
constexpr size_t kNatsKeys = 5000;

// The switch: allocations of 1 MiB or more fail in edgekeyd while it is on.
class MemoryLimit {
 public:
  explicit MemoryLimit(const DaemonProcess &d) : path_(d.dir.file("no-memory")) {}
  std::vector<std::string> env() const {
    return {"LD_PRELOAD=" EDGEKEY_FAIL_ALLOC_PATH, "EDGEKEY_TEST_FAIL_ALLOC=" + path_};
  }
  void reach() { DaemonProcess::write_file(path_, "on\n"); }
  void lift() { ASSERT_EQ(unlink(path_.c_str()), 0); }

 private:
  std::string path_;
};

bool snapshot_has_revoked(const std::string &path, const std::string &id) {
  sync::SnapshotLoad s = sync::load_snapshot(path);
  if (!s.ok()) return false;
  for (const auto &r : s.snapshot.records)
    if (r.id == id) return r.status == sync::KeyStatus::Revoked;
  return false;
}

class AtItsMemoryLimit : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kSanitized) GTEST_SKIP() << "the sanitizers replace malloc: fail_alloc cannot be preloaded";
  }
};

}  // namespace

// A change the table takes (the keyset's changed item is read again in
// place) while the snapshot's copy of every record cannot be made: the
// change is served, the failed snapshot logged once and tried again, and
// written once memory is back; at exit, the last snapshot cannot be made
// either: edgekeyd says so and exits 0, the previous snapshot as it was.
TEST_F(AtItsMemoryLimit, ChangesAreServedTheSnapshotWaitsAndEdgekeydStopsCleanly) {
  DaemonProcess d;
  MemoryLimit limit(d);
  std::vector<MintedKey> keys = mint_keys("key_mem_", kKeys);
  std::vector<sync::KeyRecord> records = records_of(keys);
  d.write_keys(records);
  d.start_ready(limit.env());
  ASSERT_TRUE(eventually([&] { return status_of(d)["snapshot"].value("written", 0) >= 1; }, 20000ms)) << d.log();
  const std::string before = read_text(d.snapshot);

  limit.reach();
  records[0].status = sync::KeyStatus::Revoked;
  records[0].revoked_at = int64_t(time(nullptr));
  d.write_keys(records);
  ASSERT_TRUE(eventually([&] { return d.validate(keys[0].token).status == 401; }, 20000ms)) << d.log();
  EXPECT_EQ(d.validate(keys[1].token).status, 200);
  const std::string not_written = "snapshot " + d.snapshot + " not written: out of memory";
  ASSERT_TRUE(eventually([&] { return occurrences(d.log(), not_written) == 1; }, 20000ms)) << d.log();
  EXPECT_TRUE(eventually([&] { return status_of(d)["snapshot"].value("failed", 0) >= 2; }, 20000ms))
      << "not tried again: " << status_of(d)["snapshot"].dump();
  EXPECT_EQ(status_of(d)["snapshot"]["failing"], true);
  EXPECT_EQ(occurrences(d.log(), not_written), 1u) << "logged more than once per change of state:\n" << d.log();
  EXPECT_EQ(read_text(d.snapshot), before) << "the previous snapshot changed";

  limit.lift();
  ASSERT_TRUE(eventually([&] { return snapshot_has_revoked(d.snapshot, keys[0].record.id); }, 40000ms)) << d.log();
  EXPECT_TRUE(eventually([&] { return status_of(d)["snapshot"]["failing"] == false; }, 10000ms)) << d.log();
  EXPECT_EQ(occurrences(d.log(), "snapshot " + d.snapshot + " written again"), 1u) << d.log();
  const std::string kept = read_text(d.snapshot);

  limit.reach();
  const int status = d.stop();
  ASSERT_TRUE(WIFEXITED(status)) << "edgekeyd did not exit by itself (status " << status << "); log:\n" << d.log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << d.log();
  EXPECT_EQ(occurrences(d.log(), not_written), 2u) << "the last snapshot's failure is not said:\n" << d.log();
  EXPECT_EQ(read_text(d.snapshot), kept) << "the previous snapshot changed";
}

// NATS: the cold snapshot cannot be gathered (no memory): said, tried again,
// loaded once memory is back. Then a record too large to decode at the
// limit (40,000 allowed origins) followed by a revocation: nothing skips
// past the record, the revocation waits behind it, and both are applied,
// once, when memory is back.
TEST_F(AtItsMemoryLimit, NatsTakesNothingItCannotDecodeAndSkipsNothing) {
  NatsTopology topo;
  std::unique_ptr<Origin> origin = start_with_origin(topo);
  ASSERT_TRUE(origin);
  std::vector<MintedKey> keys = mint_keys("key_mem_", kNatsKeys);
  for (const auto &k : keys) origin->put(k.record);
  DaemonProcess d("", topo.upstream_yaml(topo.region(0)));
  MemoryLimit limit(d);

  limit.reach();
  d.start(limit.env());
  ASSERT_TRUE(eventually([&] { return d.log().find("out of memory") != std::string::npos; }, 20000ms)) << d.log();
  EXPECT_EQ(kill(d.pid, 0), 0) << "edgekeyd died; log:\n" << d.log();
  EXPECT_EQ(d.validate(keys[0].token).header("X-Edgekey-Code"), "keyset_unavailable");
  limit.lift();
  ASSERT_TRUE(d.wait_notify("READY=1", 30000ms)) << d.log();
  EXPECT_EQ(d.validate(keys[0].token).status, 200);
  EXPECT_EQ(d.validate(keys.back().token).status, 200);

  MintedKey big = mint_key("key_mem_big");
  for (int i = 0; i < 40000; ++i) big.record.allowed_origins.push_back("https://o" + std::to_string(i) + ".io");
  limit.reach();
  origin->put(big.record);
  origin->revoke(keys[1].record);
  ASSERT_TRUE(eventually([&] { return d.log().find("could not be taken in") != std::string::npos; }, 20000ms))
      << d.log();
  EXPECT_EQ(d.validate(keys[1].token).status, 200) << "the revocation skipped past the record before it";
  limit.lift();
  ASSERT_TRUE(eventually([&] { return d.validate(keys[1].token).status == 401; }, 20000ms)) << d.log();
  auto st = status_of(d);
  EXPECT_EQ(st["nats"]["messages_applied"], kNatsKeys + 2) << st.dump();
  EXPECT_EQ(st["nats"]["snapshots_loaded"], 1) << st.dump();
  EXPECT_EQ(kill(d.pid, 0), 0);
}

// SIGHUP with a new policy, the table's rebuild finding no memory: the
// reload is refused whole -- the old policy, the old settings and every key
// serve on, nothing half applied -- and the same SIGHUP later, with memory
// back, applies it.
TEST_F(AtItsMemoryLimit, ASighupWithNoMemoryForTheRebuildKeepsTheRunningPolicyWhole) {
  DaemonProcess d;
  MemoryLimit limit(d);
  std::vector<MintedKey> keys = mint_keys("key_mem_", kKeys, "viewer");
  d.write_keys(records_of(keys));
  d.start_ready(limit.env());
  const std::vector<std::string> logs_read = {"X-Edgekey-Permission: logs:read"};
  ASSERT_EQ(d.validate(keys[0].token, logs_read).status, 403);

  limit.reach();
  d.write_config("roles:\n  owner: [\"*\"]\n  viewer: [agents:read, logs:read]\nstaleness:\n  max: 7s\n");
  ASSERT_EQ(kill(d.pid, SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return d.log().find("config not reloaded, keeping the running one: out of memory") !=
                                      std::string::npos; }, 20000ms))
      << d.log();
  EXPECT_EQ(d.validate(keys[0].token, logs_read).status, 403) << "the new policy was half applied";
  EXPECT_EQ(d.validate(keys[0].token, {"X-Edgekey-Permission: agents:read"}).status, 200);
  EXPECT_EQ(d.validate(keys.back().token).status, 200);
  EXPECT_NE(status_of(d)["staleness"]["max_seconds"], 7) << "the new settings were taken without their policy";

  limit.lift();
  ASSERT_EQ(kill(d.pid, SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return d.validate(keys[0].token, logs_read).status == 200; }, 20000ms)) << d.log();
  EXPECT_EQ(status_of(d)["staleness"]["max_seconds"], 7);
  EXPECT_EQ(d.validate(keys.back().token).status, 200);
  EXPECT_EQ(status_of(d)["table"]["live_keys"], kKeys);
}
