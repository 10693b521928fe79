// KeyStore (the Applier's records by id and by token hash) against a model,
// prepare_load (a snapshot resolved and indexed off the loop) and the NATS
// snapshot gather (the same, as the stream comes in).
#include "sync/upstream/key_store.hpp"
#include "sync/upstream/nats/snapshot_gather.hpp"
#include "sync/upstream/prepared_load.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>

namespace edgekey::sync {
namespace {

using testing::hash_n;
using testing::minimal_record;

TokenHash token_hash(unsigned n) {
  TokenHash h;
  EXPECT_TRUE(parse_record_hash(hash_n(n), h));
  return h;
}

KeyRecord record(const std::string &id, unsigned hash) {
  KeyRecord r = minimal_record(id);
  r.hash = hash_n(hash);
  return r;
}

// Every live slot is found by its id and hash; nothing else is.
void expect_matches(const KeyStore &s, const std::map<std::string, unsigned> &model) {
  ASSERT_EQ(s.size(), model.size());
  size_t live = 0;
  s.for_each([&](uint32_t slot) {
    ++live;
    auto it = model.find(s.record(slot).id);
    ASSERT_NE(it, model.end()) << s.record(slot).id;
    EXPECT_EQ(s.hash(slot), token_hash(it->second));
  });
  EXPECT_EQ(live, model.size());
  for (const auto &[id, h] : model) {
    const uint32_t slot = s.find_id(id);
    ASSERT_NE(slot, KeyStore::npos) << id;
    EXPECT_EQ(s.find_hash(token_hash(h)), slot) << id;
  }
}

TEST(KeyStore, InsertFindEraseAgainstAModel) {
  std::mt19937 rng(11);
  KeyStore s;
  std::map<std::string, unsigned> model;  // id -> hash number; hash numbers are unique
  std::map<unsigned, std::string> by_hash;
  unsigned next_hash = 1;
  for (int step = 0; step < 20000; ++step) {
    const std::string id = "key_" + std::to_string(rng() % 3000);
    const uint32_t slot = s.find_id(id);
    ASSERT_EQ(slot != KeyStore::npos, model.count(id) == 1) << id;
    if (rng() % 3 == 0) {  // erase
      if (slot == KeyStore::npos) continue;
      s.erase(slot);
      by_hash.erase(model[id]);
      model.erase(id);
      EXPECT_EQ(s.find_id(id), KeyStore::npos);
    } else if (slot == KeyStore::npos) {  // insert with a fresh hash
      const unsigned h = next_hash++;
      s.insert(record(id, h), token_hash(h));
      model[id] = h;
      by_hash[h] = id;
    }
    if (step % 2500 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_matches(s, model));
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches(s, model));
  for (const auto &[h, id] : by_hash) EXPECT_EQ(s.record(s.find_hash(token_hash(h))).id, id);
  EXPECT_EQ(s.find_hash(token_hash(next_hash)), KeyStore::npos);
  EXPECT_EQ(s.find_id("key_none"), KeyStore::npos);
}

// Colliding probe runs: erasing from the middle of a run keeps the rest found.
TEST(KeyStore, EraseInsideProbeRunsKeepsTheOthersFound) {
  KeyStore s;
  std::map<std::string, unsigned> model;
  for (unsigned i = 0; i < 200; ++i) {
    s.insert(record("key_" + std::to_string(i), i + 1), token_hash(i + 1));
    model["key_" + std::to_string(i)] = i + 1;
  }
  for (unsigned i = 0; i < 200; i += 3) {
    s.erase(s.find_id("key_" + std::to_string(i)));
    model.erase("key_" + std::to_string(i));
  }
  ASSERT_NO_FATAL_FAILURE(expect_matches(s, model));
  for (unsigned i = 0; i < 200; i += 3) {  // freed slots are reused
    s.insert(record("key_" + std::to_string(i), 1000 + i), token_hash(1000 + i));
    model["key_" + std::to_string(i)] = 1000 + i;
  }
  EXPECT_EQ(s.slots(), 200u);
  ASSERT_NO_FATAL_FAILURE(expect_matches(s, model));
}

// A usage tag names a key by the first 8 bytes of its hash: found by a probe
// of the hash index (edgekeyd keeps no map of every key beside it).
TEST(KeyStore, FindsAKeyByTheFirstEightBytesOfItsHash) {
  KeyStore s;
  std::vector<uint64_t> heads;
  for (unsigned i = 0; i < 50; ++i) {
    // Alike in the first 4 bytes (one probe run), unlike in the next 4.
    char text[80];
    snprintf(text, sizeof text, "sha256:%016llx%048x", 0x1122334400000000ull + i, i);
    KeyRecord r = minimal_record("key_" + std::to_string(i));
    r.hash = text;
    TokenHash h;
    ASSERT_TRUE(parse_record_hash(r.hash, h));
    s.insert(r, h);
    uint64_t head;
    std::memcpy(&head, h.data(), sizeof head);
    heads.push_back(head);
  }
  s.erase(s.find_id("key_7"));
  for (unsigned i = 0; i < 50; ++i) {
    const uint32_t slot = s.find_hash_head(heads[i]);
    if (i == 7) {
      EXPECT_EQ(slot, KeyStore::npos);
      continue;
    }
    ASSERT_NE(slot, KeyStore::npos) << i;
    EXPECT_EQ(s.record(slot).id, "key_" + std::to_string(i));
  }
  EXPECT_EQ(s.find_hash_head(heads[0] ^ 0xff), KeyStore::npos);  // its first byte differs
  EXPECT_EQ(KeyStore().find_hash_head(heads[0]), KeyStore::npos);
}

TEST(KeyStore, BuildAppliesInOrderTheLaterRecordWins) {
  std::vector<KeyRecord> records = {record("key_a", 1), record("key_b", 2), record("key_a", 3),
                                    record("key_c", 2), record("key_d", 4)};
  std::vector<TokenHash> hashes;
  for (const auto &r : records) hashes.push_back([&] {
      TokenHash h;
      parse_record_hash(r.hash, h);
      return h;
    }());
  std::vector<uint32_t> dropped;
  KeyStore s = KeyStore::build(records, hashes, &dropped);
  // key_a's second version replaces its first; key_c takes key_b's hash.
  EXPECT_EQ(dropped, (std::vector<uint32_t>{0, 1}));
  ASSERT_NO_FATAL_FAILURE(expect_matches(s, {{"key_a", 3}, {"key_c", 2}, {"key_d", 4}}));
  EXPECT_FALSE(s.live(0));
  EXPECT_TRUE(s.live(2));
}

Policy policy() {
  PolicySpec p;
  p.permissions = {"agents:read", "chat:write"};
  p.roles = {{"developer", {"*"}}};
  p.region = "in-mum";
  return testing::compiled(std::move(p));
}

TEST(PreparedLoad, ResolvesIndexesAndKeepsWhatDidNotResolve) {
  auto resolver = std::make_shared<const Resolver>(policy());
  KeyRecord bad_role = record("key_bad", 9);
  bad_role.role = "admin";
  std::vector<KeyRecord> records = {record("key_a", 1), bad_role, record("key_b", 2), record("key_a", 3)};
  PreparedLoad p = prepare_load(records, resolver);
  EXPECT_EQ(p.resolver, resolver);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("unknown role \"admin\""), std::string::npos) << p.errors[0];
  ASSERT_EQ(p.unresolved.size(), 1u);
  EXPECT_EQ(p.unresolved[0].id, "key_bad");
  // key_a's first version is neither in the store nor in the table.
  ASSERT_NO_FATAL_FAILURE(expect_matches(p.store, {{"key_a", 3}, {"key_b", 2}}));
  ASSERT_EQ(p.table.size(), p.store.slots());
  for (uint32_t i = 0; i < p.table.size(); ++i) {
    ASSERT_TRUE(p.store.live(i));
    EXPECT_EQ(p.table[i].key_id, p.store.record(i).id);
    EXPECT_EQ(p.table[i].hash, p.store.hash(i));
  }
}

// The table of a prepared load matches its store slot for slot.
void expect_aligned(const PreparedLoad &p) {
  ASSERT_EQ(p.table.size(), p.store.slots());
  for (uint32_t i = 0; i < p.table.size(); ++i) {
    ASSERT_TRUE(p.store.live(i)) << i;
    EXPECT_EQ(p.table[i].key_id, p.store.record(i).id);
    EXPECT_EQ(p.table[i].hash, p.store.hash(i));
  }
}

TEST(SnapshotGather, TheLastEntryOfEachKeyWinsAsTheStreamIsApplied) {
  auto resolver = std::make_shared<const Resolver>(policy());
  SnapshotGather g(resolver, 8);
  g.put(testing::valid(record("key_a", 1)));
  g.put(testing::valid(record("key_b", 2)));
  g.put(testing::valid(record("key_c", 3)));
  g.put(testing::valid(record("key_a", 4)));   // a new version of key_a
  g.remove("key_b");           // a KV delete
  g.remove("key_none");        // of a key never seen: nothing
  g.put(testing::valid(record("key_d", 3)));   // key_c's hash under another id: key_c is gone
  KeyRecord bad = record("key_e", 5);
  g.put(testing::valid(bad));
  bad.role = "admin";
  g.put(testing::valid(bad));                 // key_e's last version does not resolve: the key is dropped
  KeyRecord fixed = record("key_f", 6);
  fixed.role = "admin";
  g.put(testing::valid(fixed));
  g.put(testing::valid(record("key_f", 6)));   // key_f's last version resolves: not reported
  PreparedLoad p = g.finish();
  EXPECT_EQ(p.resolver, resolver);
  ASSERT_NO_FATAL_FAILURE(expect_matches(p.store, {{"key_a", 4}, {"key_d", 3}, {"key_f", 6}}));
  ASSERT_NO_FATAL_FAILURE(expect_aligned(p));
  ASSERT_EQ(p.unresolved.size(), 1u);
  EXPECT_EQ(p.unresolved[0].id, "key_e");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].find("key_e"), std::string::npos) << p.errors[0];
}

TEST(SnapshotGather, AStreamWithoutRepeatsNeedsNoCompaction) {
  auto resolver = std::make_shared<const Resolver>(policy());
  SnapshotGather g(resolver, 1000);
  std::map<std::string, unsigned> model;
  for (unsigned i = 0; i < 1000; ++i) {
    g.put(testing::valid(record("key_" + std::to_string(i), i + 1)));
    model["key_" + std::to_string(i)] = i + 1;
  }
  PreparedLoad p = g.finish();
  ASSERT_NO_FATAL_FAILURE(expect_matches(p.store, model));
  ASSERT_NO_FATAL_FAILURE(expect_aligned(p));
  EXPECT_TRUE(p.errors.empty());
}

}  // namespace
}  // namespace edgekey::sync
