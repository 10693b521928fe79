// Diffs between two listings of a keyset.
#include "sync/record/keyset_diff.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace edgekey::sync {
namespace {

using Hash = std::array<uint8_t, 32>;

KeyRecord rec(unsigned n) {
  KeyRecord r = testing::minimal_record("key_" + std::to_string(n));
  r.hash = testing::hash_n(n);
  return r;
}

Hash hash_of(const KeyRecord &r) {
  Hash h{};
  EXPECT_TRUE(parse_record_hash(r.hash, h));
  return h;
}

std::vector<std::string> ids(const std::vector<KeyRecord> &v) {
  std::vector<std::string> out;
  for (const auto &r : v) out.push_back(r.id);
  return out;
}

TEST(KeysetDiff, IdenticalListsGiveNothing) {
  std::vector<KeyRecord> a = {rec(1), rec(2), rec(3)};
  EXPECT_TRUE(diff_keysets(a, a).empty());
  EXPECT_TRUE(diff_keysets({}, {}).empty());
  std::vector<KeyRecord> reordered = {rec(3), rec(1), rec(2)};
  EXPECT_TRUE(diff_keysets(a, reordered).empty());
}

TEST(KeysetDiff, OnlyChangedRecordsAreUpserted) {
  std::vector<KeyRecord> before = {rec(1), rec(2), rec(3)};
  std::vector<KeyRecord> after = before;
  after[1].status = KeyStatus::Revoked;
  after[1].revoked_at = testing::kCreated;
  after[2].scopes = {"logs:read"};
  KeysetDiff d = diff_keysets(before, after);
  EXPECT_EQ(ids(d.upserts), (std::vector<std::string>{"key_2", "key_3"}));
  EXPECT_EQ(d.upserts[0].status, KeyStatus::Revoked);
  EXPECT_TRUE(d.removals.empty());
}

TEST(KeysetDiff, AddsAndRemovals) {
  std::vector<KeyRecord> before = {rec(1), rec(2), rec(3)};
  std::vector<KeyRecord> after = {rec(4), rec(2)};
  KeysetDiff d = diff_keysets(before, after);
  EXPECT_EQ(ids(d.upserts), std::vector<std::string>{"key_4"});
  EXPECT_EQ(d.removals, (std::vector<Hash>{hash_of(rec(1)), hash_of(rec(3))}));
  d = diff_keysets({}, before);
  EXPECT_EQ(ids(d.upserts), ids(before));
  d = diff_keysets(before, {});
  EXPECT_TRUE(d.upserts.empty());
  EXPECT_EQ(d.removals.size(), 3u);
}

TEST(KeysetDiff, NewHashForTheSameIdIsRemovePlusUpsert) {
  std::vector<KeyRecord> before = {rec(1)};
  std::vector<KeyRecord> after = {rec(1)};
  after[0].hash = testing::hash_n(99);
  KeysetDiff d = diff_keysets(before, after);
  EXPECT_EQ(ids(d.upserts), std::vector<std::string>{"key_1"});
  EXPECT_EQ(d.removals, std::vector<Hash>{hash_of(rec(1))});
}

TEST(KeysetDiff, LatencyStampIsNotAChange) {
  std::vector<KeyRecord> before = {rec(0xabc)};
  std::vector<KeyRecord> after = before;
  after[0].origin_written_at = 12345;
  EXPECT_TRUE(diff_keysets(before, after).empty());
  EXPECT_TRUE(same_content(before[0], after[0]));
  after[0].name = "renamed";
  EXPECT_FALSE(same_content(before[0], after[0]));
  EXPECT_EQ(diff_keysets(before, after).upserts.size(), 1u);
}

// Applying a diff to a table holding `before` gives `after`, over random edits.
TEST(KeysetDiff, ApplyingTheDiffReachesTheNewListing) {
  std::mt19937 rng(20261122);
  std::vector<KeyRecord> before;
  for (unsigned i = 0; i < 200; ++i) before.push_back(rec(i));
  for (int round = 0; round < 50; ++round) {
    std::vector<KeyRecord> after;
    for (const auto &r : before) {
      switch (rng() % 6) {
        case 0: break;  // removed
        case 1: {
          KeyRecord c = r;
          c.status = c.status == KeyStatus::Active ? KeyStatus::Revoked : KeyStatus::Active;
          after.push_back(c);
          break;
        }
        case 2: {
          KeyRecord c = r;
          c.expires_at = testing::kCreated + int64_t(rng() % 1000);
          after.push_back(c);
          break;
        }
        default: after.push_back(r);
      }
    }
    for (int k = 0; k < 20; ++k) after.push_back(rec(1000 + unsigned(round) * 100 + unsigned(k)));

    std::map<Hash, KeyRecord> table;
    for (const auto &r : before) table[hash_of(r)] = r;
    KeysetDiff d = diff_keysets(before, after);
    size_t unchanged = 0;
    for (const auto &r : after) {
      auto it = table.find(hash_of(r));
      if (it != table.end() && it->second == r) ++unchanged;
    }
    EXPECT_EQ(d.upserts.size(), after.size() - unchanged);
    for (const auto &h : d.removals) ASSERT_EQ(table.erase(h), 1u);
    for (const auto &r : d.upserts) table[hash_of(r)] = r;
    std::map<Hash, KeyRecord> expect;
    for (const auto &r : after) expect[hash_of(r)] = r;
    ASSERT_EQ(table, expect) << "round " << round;
    before = after;
  }
}

}  // namespace
}  // namespace edgekey::sync
