// NatsKeyRepository in-process against real nats-server processes: a conflicting
// writer makes update() undo its partial writes and rerun the change on fresh
// records; duplicate hashes and unreadable entries write nothing; a missing
// bucket, an unreachable server and an unreachable origin are clear errors
// with their exit codes.
#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_key_repository.hpp"
#include "nats_harness.hpp"
#include "sync/record/record_json.hpp"

#include <gtest/gtest.h>

namespace edgekey::ctl::test {
namespace {

sync::KeyRecord record(const std::string &id, char hash_digit) {
  sync::KeyRecord r;
  r.id = id;
  r.hash = "sha256:" + std::string(64, hash_digit);
  r.workspace = "ws_solar";
  r.role = "developer";
  r.created_at = 1'800'000'000;
  return r;
}

const sync::KeyRecord *find(const std::vector<sync::KeyRecord> &recs, const std::string &id) {
  for (const auto &r : recs)
    if (r.id == id) return &r;
  return nullptr;
}

template <class F>
CtlError error_of(F &&f) {
  try {
    f();
  } catch (const CtlError &e) {
    return e;
  }
  ADD_FAILURE() << "no CtlError";
  return CtlError(kExitOk, "");
}

struct StoreTest : ::testing::Test {
  void SetUp() override { ASSERT_TRUE(topo.start(&why)) << why; }
  // Through the leaf of region "in", as an edge host's edgekeyctl goes.
  sync::NatsOptions opts() { return topo.options(topo.region(0)); }
  edgekey::test::NatsTopology topo{{"in"}};
  std::string why;
};

TEST_F(StoreTest, ConflictUndoesPartialWritesAndRerunsTheChange) {
  NatsKeyRepository store(opts(), "test.yaml");
  store.update([](const auto &) { return std::vector<sync::KeyRecord>{record("key_a", 'a')}; });
  EXPECT_EQ(store.last_attempts(), 1);
  Bucket bucket(topo.origin_options());

  int calls = 0;
  store.update([&](const std::vector<sync::KeyRecord> &current) {
    ++calls;
    const sync::KeyRecord *a = find(current, "key_a");
    if (!a) throw std::runtime_error("key_a missing");
    sync::KeyRecord changed = *a;
    changed.status = sync::KeyStatus::Revoked;
    changed.revoked_at = 1'800'000'100;
    if (calls == 1) {  // another writer renames key_a between this read and the write
      sync::KeyRecord outside = *a;
      outside.name = "renamed outside";
      bucket.put("key_a", sync::encode_record_json(outside));
    }
    // A new key (written first) and the changed one (which conflicts once).
    return std::vector<sync::KeyRecord>{changed, record("key_new" + std::to_string(calls), 'b')};
  });
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(store.last_attempts(), 2);
  EXPECT_FALSE(bucket.get("key_new1")) << "the first attempt's new key was not undone";
  ASSERT_TRUE(bucket.get("key_new2"));
  const auto recs = bucket.records();
  ASSERT_EQ(recs.size(), 2u);
  const sync::KeyRecord *a = find(recs, "key_a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "renamed outside");  // the rerun started from the other writer's record
  EXPECT_EQ(a->status, sync::KeyStatus::Revoked);
  EXPECT_TRUE(a->origin_written_at);
}

TEST_F(StoreTest, EndlessConflictsGiveUpWritingNothing) {
  NatsKeyRepository store(opts(), "test.yaml", 3);
  store.update([](const auto &) { return std::vector<sync::KeyRecord>{record("key_a", 'a')}; });
  Bucket bucket(topo.origin_options());
  int calls = 0;
  const CtlError e = error_of([&] {
    store.update([&](const std::vector<sync::KeyRecord> &current) {
      sync::KeyRecord a = *find(current, "key_a");
      bucket.put("key_a", sync::encode_record_json(a));  // always someone faster
      a.name = "mine " + std::to_string(++calls);
      return std::vector<sync::KeyRecord>{record("key_x" + std::to_string(calls), 'c'), a};
    });
  });
  EXPECT_EQ(e.code, kExitKeysetIo);
  EXPECT_EQ(calls, 3);
  EXPECT_NE(std::string(e.what()).find("during each of 3 attempts; nothing was written"), std::string::npos)
      << e.what();
  const auto recs = bucket.records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].name, "");
}

TEST_F(StoreTest, DuplicateHashAndInvalidRecordsWriteNothing) {
  NatsKeyRepository store(opts(), "test.yaml");
  store.update([](const auto &) { return std::vector<sync::KeyRecord>{record("key_a", 'a')}; });
  Bucket bucket(topo.origin_options());
  const uint64_t seq = bucket.last_sequence();
  EXPECT_EQ(error_of([&] {
              store.update([](const auto &) {
                return std::vector<sync::KeyRecord>{record("key_b", 'b'), record("key_c", 'a')};
              });
            }).code,
            kExitUsage);
  sync::KeyRecord bad = record("key_d", 'd');
  bad.workspace = "";
  EXPECT_EQ(error_of([&] { store.update([&](const auto &) { return std::vector<sync::KeyRecord>{bad}; }); }).code,
            kExitUsage);
  const CtlError spaced = error_of([&] {
    store.update([](const auto &) { return std::vector<sync::KeyRecord>{record("key e", 'e')}; });
  });
  EXPECT_EQ(spaced.code, kExitUsage);
  EXPECT_NE(std::string(spaced.what()).find("cannot name a NATS key-value entry"), std::string::npos);
  EXPECT_EQ(bucket.last_sequence(), seq);
}

TEST_F(StoreTest, UnreadableEntriesAreReportedAndBlockWrites) {
  Bucket bucket(topo.origin_options());
  bucket.put("key_good", sync::encode_record_json(record("key_good", 'a')));
  bucket.put("key_bad", "{not json");
  bucket.put("key_other", sync::encode_record_json(record("key_elsewhere", 'b')));
  const uint64_t seq = bucket.last_sequence();

  NatsKeyRepository store(opts(), "test.yaml");
  const auto recs = store.list();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].id, "key_good");
  ASSERT_EQ(store.unreadable().size(), 2u);
  EXPECT_NE(store.unreadable()[0].find("bucket \"keys\" entry \"key_bad\" (revision"), std::string::npos)
      << store.unreadable()[0];
  EXPECT_NE(store.unreadable()[1].find("holds the record of key \"key_elsewhere\""), std::string::npos)
      << store.unreadable()[1];

  EXPECT_FALSE(store.get("key_bad"));
  EXPECT_EQ(store.unreadable().size(), 1u);
  ASSERT_TRUE(store.get("key_good"));
  EXPECT_TRUE(store.unreadable().empty());
  EXPECT_FALSE(store.get("key_absent"));
  EXPECT_FALSE(store.get("not a kv key"));

  int calls = 0;
  const CtlError e = error_of([&] {
    store.update([&](const auto &) {
      ++calls;
      return std::vector<sync::KeyRecord>{record("key_new", 'c')};
    });
  });
  EXPECT_EQ(e.code, kExitKeysetIo);
  EXPECT_EQ(calls, 0);
  EXPECT_NE(std::string(e.what()).find("2 entry(ies) that do not load"), std::string::npos) << e.what();
  EXPECT_EQ(bucket.last_sequence(), seq);
}

TEST_F(StoreTest, MissingBucketSaysToRunInitOrigin) {
  auto o = opts();
  o.bucket = "nothere";
  NatsKeyRepository store(o, "/etc/edgekey/edgekey.yaml");
  const CtlError e = error_of([&] { store.list(); });
  EXPECT_EQ(e.code, kExitKeysetIo);
  const std::string what = e.what();
  EXPECT_NE(what.find("NATS bucket \"nothere\" in domain \"eu\" (servers " + topo.region(0).url() + ")"),
            std::string::npos) << what;
  EXPECT_NE(what.find("edgekeyctl nats init-origin"), std::string::npos) << what;
  EXPECT_NE(what.find("/etc/edgekey/edgekey.yaml"), std::string::npos) << what;
}

TEST_F(StoreTest, OriginUnreachableFromTheRegionExits4NamingIt) {
  topo.hub().stop();
  auto o = opts();
  o.request_timeout = std::chrono::milliseconds(500);
  NatsKeyRepository store(o, "test.yaml");
  const auto start = std::chrono::steady_clock::now();
  const CtlError e = error_of([&] { store.list(); });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(e.code, kExitUnavailable);
  const std::string what = e.what();
  EXPECT_NE(what.find(topo.region(0).url()), std::string::npos) << what;
  EXPECT_NE(what.find("domain \"eu\""), std::string::npos) << what;
}

TEST(NatsStore, UnreachableServerExits4NamingIt) {
  sync::NatsOptions o;
  o.servers = {"nats://127.0.0.1:1"};
  o.origin_domain = "eu";
  o.request_timeout = std::chrono::milliseconds(200);
  NatsKeyRepository store(o, "test.yaml");
  EXPECT_NE(store.where().find("nats://127.0.0.1:1"), std::string::npos);
  const CtlError e = error_of([&] { store.list(); });
  EXPECT_EQ(e.code, kExitUnavailable);
  EXPECT_NE(std::string(e.what()).find("nats://127.0.0.1:1"), std::string::npos) << e.what();
  EXPECT_EQ(error_of([&] { store.update([](const auto &) { return std::vector<sync::KeyRecord>{}; }); }).code,
            kExitUnavailable);
}

TEST(NatsStore, ValidKvKeys) {
  EXPECT_TRUE(valid_kv_key("key_2hT9cQ4mZ8"));
  EXPECT_TRUE(valid_kv_key("a.b/c=d-e"));
  for (const char *bad : {"", ".a", "a.", "a..b", "a b", "a*", "a>", "ключ"}) EXPECT_FALSE(valid_kv_key(bad)) << bad;
}

}  // namespace
}  // namespace edgekey::ctl::test
