// The Applier against a real table: what the table holds after loads, live
// upserts and removals, and a prepared load resolved under a stale policy.
#include "sync/upstream/applier.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/table_writer.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>

namespace edgekey::sync {
namespace {

using testing::hash_n;
using testing::minimal_record;

PolicySpec policy_spec(std::vector<std::string> developer = {"*"}) {
  PolicySpec p;
  p.permissions = {"agents:read", "chat:write"};
  p.roles = {{"developer", std::move(developer)}, {"viewer", {"agents:read"}}};
  p.region = "in-mum";
  return p;
}

Policy policy() { return testing::compiled(policy_spec()); }

KeyRecord record(const std::string &id, unsigned hash) {
  KeyRecord r = minimal_record(id);
  r.hash = hash_n(hash);
  return r;
}

TokenHash token_hash(unsigned n) {
  TokenHash h;
  EXPECT_TRUE(parse_record_hash(hash_n(n), h));
  return h;
}

struct Table {
  shm::TableOptions opts;
  std::unique_ptr<shm::TableWriter> writer;
  std::unique_ptr<Applier> applier;
  std::vector<std::string> rejects;
  explicit Table(const Policy &p = policy()) {
    static std::atomic<int> n{0};
    opts.name = "ek-applier-test-" + std::to_string(getpid()) + "-" + std::to_string(n++);
    opts.capacity = 64;
    p.apply_to(opts);
    shm::TableWriter::destroy(opts.name);
    writer = std::make_unique<shm::TableWriter>(opts);
    applier = std::make_unique<Applier>(*writer, p, [this](const std::string &m) { rejects.push_back(m); });
  }
  ~Table() {
    applier.reset();
    writer.reset();
    shm::TableWriter::destroy(opts.name);
  }
  bool in_table(unsigned hash) const { return writer->get(token_hash(hash)).has_value(); }
  uint64_t live() const { return writer->stats().live + writer->stats().revoked; }
};

TEST(Applier, LoadUpsertRemoveKeepTheTableAndTheIndexTogether) {
  Table t;
  t.applier->load({record("key_a", 1), record("key_b", 2), record("key_c", 3)}, 10);
  EXPECT_EQ(t.applier->size(), 3u);
  EXPECT_EQ(t.live(), 3u);
  EXPECT_EQ(t.applier->revision(), 10u);

  // Same id, new hash: the old hash leaves the table.
  EXPECT_TRUE(t.applier->upsert(record("key_a", 11), 11));
  EXPECT_FALSE(t.in_table(1));
  EXPECT_TRUE(t.in_table(11));
  EXPECT_EQ(t.applier->find_id("key_a")->hash, hash_n(11));

  // Another id with key_b's hash: key_b is gone, the hash is key_d's.
  EXPECT_TRUE(t.applier->upsert(record("key_d", 2), 12));
  EXPECT_EQ(t.applier->find_id("key_b"), nullptr);
  EXPECT_EQ(t.writer->get(token_hash(2))->key_id, "key_d");
  EXPECT_EQ(t.applier->size(), 3u);
  EXPECT_EQ(t.live(), 3u);

  EXPECT_TRUE(t.applier->remove_id("key_c", 13));
  EXPECT_FALSE(t.applier->remove_id("key_c", 14));
  EXPECT_FALSE(t.in_table(3));
  EXPECT_EQ(t.applier->revision(), 14u);

  // A record that does not resolve changes nothing.
  KeyRecord bad = record("key_a", 99);
  bad.role = "admin";
  EXPECT_FALSE(t.applier->upsert(bad, 15));
  EXPECT_EQ(t.applier->find_id("key_a")->hash, hash_n(11));
  ASSERT_EQ(t.rejects.size(), 1u);

  auto all = t.applier->records();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "key_a");
  EXPECT_EQ(all[1].id, "key_d");

  // A new snapshot replaces everything.
  t.applier->load({record("key_e", 5)}, 20);
  EXPECT_EQ(t.applier->size(), 1u);
  EXPECT_EQ(t.live(), 1u);
  EXPECT_FALSE(t.in_table(11));
  EXPECT_EQ(t.applier->find_id("key_a"), nullptr);
}

// A snapshot naming an id twice: only the last version reaches the table.
TEST(Applier, ALoadRepeatingAnIdKeepsOnlyItsLastVersion) {
  Table t;
  t.applier->load({record("key_a", 1), record("key_b", 2), record("key_a", 3)}, 1);
  EXPECT_EQ(t.applier->size(), 2u);
  EXPECT_EQ(t.live(), 2u);
  EXPECT_FALSE(t.in_table(1));
  EXPECT_TRUE(t.in_table(3));
}

TEST(Applier, FileDiffRemovesByHash) {
  Table t;
  t.applier->load({record("key_a", 1), record("key_b", 2)}, 1);
  KeysetDiff d;
  d.removals = {token_hash(1)};
  d.upserts = {record("key_c", 3)};
  t.applier->apply(d, 2);
  EXPECT_EQ(t.applier->find_id("key_a"), nullptr);
  EXPECT_NE(t.applier->find_id("key_c"), nullptr);
  EXPECT_EQ(t.live(), 2u);
}

// Prepared under one policy, published after a SIGHUP changed it: the
// records are resolved again, including one the old policy refused.
TEST(Applier, APreparedLoadFromAReplacedPolicyIsResolvedAgain) {
  Table t;
  KeyRecord viewer = record("key_v", 2);
  viewer.role = "viewer";
  KeyRecord scoped = record("key_s", 3);
  scoped.scopes = {"chat:write"};
  PreparedLoad p = prepare_load({record("key_a", 1), viewer, scoped}, t.applier->resolver());
  EXPECT_TRUE(p.errors.empty());

  PolicySpec next = policy_spec({"agents:read"});
  next.permissions = {"agents:read"};  // chat:write is gone: key_s no longer resolves
  t.applier->set_policy(testing::compiled(next));
  t.applier->load_prepared(std::move(p), 5);
  EXPECT_EQ(t.applier->size(), 2u);
  EXPECT_EQ(t.applier->find_id("key_s"), nullptr);
  ASSERT_EQ(t.rejects.size(), 1u);
  EXPECT_NE(t.rejects[0].find("key_s"), std::string::npos) << t.rejects[0];
  EXPECT_EQ(t.writer->get(token_hash(1))->perms, 1u);  // developer: agents:read only now
}

TEST(Applier, APreparedLoadPublishesWhatWasResolved) {
  Table t;
  KeyRecord bad = record("key_bad", 9);
  bad.role = "admin";
  PreparedLoad p = prepare_load({record("key_a", 1), bad, record("key_b", 2)}, t.applier->resolver());
  t.applier->load_prepared(std::move(p), 7);
  EXPECT_EQ(t.applier->size(), 2u);
  EXPECT_EQ(t.live(), 2u);
  EXPECT_EQ(t.applier->rejected(), 1u);
  ASSERT_EQ(t.rejects.size(), 1u);
  EXPECT_NE(t.rejects[0].find("key_bad"), std::string::npos);
  EXPECT_EQ(t.applier->revision(), 7u);
}

}  // namespace
}  // namespace edgekey::sync
