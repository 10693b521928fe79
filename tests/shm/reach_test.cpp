// The reach of a home slot and the homes bits (layout.hpp: Reach, Homes):
// every key lies within its home's reach and has its three bits set in its
// home's homes word, a word is zero exactly while its 12 positions' reaches
// are, and a lookup that stops at either still finds every key.
#include "table_fixture.hpp"

#include "shm/src/generation.hpp"
#include "shm/src/table_view.hpp"

#include <map>
#include <random>

using namespace edgekey;
using namespace edgekey::test;

namespace {

// A hash whose home slot in a table of `capacity` slots is `home`; the other
// 24 bytes come from `rng`, so hashes with one home still differ.
std::array<uint8_t, 32> hash_with_home(uint64_t home, uint64_t capacity, std::mt19937_64 &rng) {
  // home_slot(h0) = h0 * capacity >> 64: the smallest h0 of `home` is
  // ceil(home * 2^64 / capacity).
  const unsigned __int128 lo = ((unsigned __int128)home << 64) + capacity - 1;
  const uint64_t h0 = uint64_t(lo / capacity);
  std::array<uint8_t, 32> h;
  std::memcpy(h.data(), &h0, 8);
  for (int i = 1; i < 4; ++i) {
    const uint64_t w = rng();
    std::memcpy(h.data() + 8 * i, &w, 8);
  }
  EXPECT_EQ(shm::home_slot(shm::hash_word0(h.data()), capacity), home);
  return h;
}

shm::TableRecord record(const std::array<uint8_t, 32> &hash, int i) {
  shm::TableRecord r;
  r.hash = hash;
  r.key_id = "key_" + std::to_string(i);
  r.workspace = "ws";
  return r;
}

template <uint64_t Capacity>
shm::TableOptions options_with_capacity(const std::string &name) {
  shm::TableOptions o = test_options(name);
  o.capacity = Capacity;
  return o;
}

uint64_t reach_of(const shm::DataView &d, uint64_t slot) {
  return shm::slot_reach(d.slots[slot].w[0].load(std::memory_order_relaxed));
}

// Homes word w (positions 12w .. 12w + 11).
uint64_t homes_word(const shm::DataView &d, uint64_t w) {
  return d.homes[w].load(std::memory_order_relaxed);
}

// For every live or revoked key: its distance from home < its home's reach
// (or the reach is unbounded). Returns the largest distance + 1 per home.
std::map<uint64_t, uint64_t> check_every_key_is_within_reach(const shm::DataView &d) {
  std::map<uint64_t, uint64_t> need;
  for (uint64_t s = 0; s < d.capacity; ++s) {
    shm::SlotImage img;
    std::memcpy(&img, &d.slots[s], sizeof img);
    if (img.state != uint8_t(shm::SlotState::Live)) continue;
    const uint64_t home = shm::home_slot(shm::hash_word0(img.hash), d.capacity);
    const uint64_t dist = s >= home ? s - home : s + d.capacity - home;
    const uint64_t r = reach_of(d, home);
    EXPECT_TRUE(r == shm::kReachUnbounded || dist < r)
        << "slot " << s << " is " << dist << " from its home " << home << ", whose reach is " << r;
    need[home] = std::max(need[home], dist + 1);
    const uint64_t mask = shm::home_mask(img.hash);
    EXPECT_EQ(homes_word(d, shm::homes_word_of(home)) & mask, mask)
        << "slot " << s << ": one of its key's bits in the homes word of position " << home
        << " is clear";
  }
  for (uint64_t w = 0; w < shm::homes_words(d.capacity); ++w) {
    bool any_reach = false;
    const uint64_t end = std::min((w + 1) * shm::kHomePositions, d.capacity);
    for (uint64_t s = w * shm::kHomePositions; s < end; ++s) any_reach |= reach_of(d, s) != 0;
    EXPECT_EQ(homes_word(d, w) != 0, any_reach) << "homes word " << w;
  }
  return need;
}

}  // namespace

TEST(Reach, AClusterOfOneHomeIsCoveredExactlyAndSaturates) {
  TableFixture t("reach-cluster", options_with_capacity<1024>);
  std::mt19937_64 rng(7);
  std::vector<std::array<uint8_t, 32>> keys;
  // 300 keys of home 1000: they wrap past the end of the slots, and the
  // home's reach passes 254 (the largest bounded value).
  for (int i = 0; i < 300; ++i) {
    keys.push_back(hash_with_home(1000, 1024, rng));
    ASSERT_EQ(t.writer->put(record(keys.back(), i)), shm::WriteError::None);
    const shm::DataView d = t.writer->current()->view();
    ASSERT_EQ(d.capacity, 1024u);
    EXPECT_EQ(reach_of(d, 1000), std::min<uint64_t>(i + 1, shm::kReachUnbounded)) << "after key " << i;
  }
  const shm::DataView d = t.writer->current()->view();
  check_every_key_is_within_reach(d);
  for (size_t i = 0; i < keys.size(); ++i) {
    shm::SlotImage img;
    ASSERT_EQ(shm::find_slot(d, keys[i].data(), img), shm::Lookup::Hit) << "key " << i;
    EXPECT_EQ(std::string(img.ids, img.id_len), "key_" + std::to_string(i));
  }
  // Home 1001 holds key 1 of the cluster but no key of its own: reach 0, and
  // a lookup from there misses without a probe past it.
  EXPECT_EQ(reach_of(d, 1001), 0u);
  shm::SlotImage img;
  EXPECT_EQ(shm::find_slot(d, hash_with_home(1001, 1024, rng).data(), img), shm::Lookup::Miss);
  EXPECT_EQ(shm::find_slot(d, hash_with_home(1000, 1024, rng).data(), img), shm::Lookup::Miss);
}

TEST(Reach, ANeighboursClusterDoesNotHideAKeyBehindIt) {
  TableFixture t("reach-neighbour", options_with_capacity<256>);
  std::mt19937_64 rng(11);
  // Ten keys of home 20 fill 20..29; a key of home 25 then lands at 30,
  // five slots from its home, past slots holding other homes' keys.
  for (int i = 0; i < 10; ++i) t.writer->put(record(hash_with_home(20, 256, rng), i));
  const auto late = hash_with_home(25, 256, rng);
  t.writer->put(record(late, 99));
  const shm::DataView d = t.writer->current()->view();
  EXPECT_EQ(reach_of(d, 20), 10u);
  EXPECT_EQ(reach_of(d, 25), 6u);
  shm::SlotImage img;
  EXPECT_EQ(shm::find_slot(d, late.data(), img), shm::Lookup::Hit);
  EXPECT_EQ(std::string(img.ids, img.id_len), "key_99");
}

// Puts, revocations, removals and re-puts of random keys, with growth and a
// rebuild: every key the writer holds stays within reach, a reach is never
// below what a key needs, and a fresh generation's reach is exactly that.
TEST(Reach, EveryKeyStaysWithinReachThroughChurnGrowthAndRebuild) {
  TableFixture t("reach-churn");
  std::mt19937_64 rng(3);
  std::vector<std::array<uint8_t, 32>> keys;
  std::vector<bool> present;
  for (int round = 0; round < 4000; ++round) {
    const uint64_t op = rng() % 10;
    if (op < 6 || keys.empty()) {
      std::array<uint8_t, 32> h;
      for (int i = 0; i < 4; ++i) {
        const uint64_t w = rng();
        std::memcpy(h.data() + 8 * i, &w, 8);
      }
      keys.push_back(h);
      present.push_back(true);
      ASSERT_EQ(t.writer->put(record(h, int(keys.size()))), shm::WriteError::None);
    } else {
      const size_t k = rng() % keys.size();
      if (op < 8) {
        t.writer->remove(keys[k]);
        present[k] = false;
      } else if (op == 8) {
        t.writer->revoke(keys[k]);
      } else {
        t.writer->put(record(keys[k], int(k)));
        present[k] = true;
      }
    }
  }
  for (int pass = 0; pass < 2; ++pass) {
    const shm::DataView d = t.writer->current()->view();
    const auto need = check_every_key_is_within_reach(d);
    shm::SlotImage img;
    for (size_t k = 0; k < keys.size(); ++k)
      EXPECT_EQ(shm::find_slot(d, keys[k].data(), img), present[k] ? shm::Lookup::Hit : shm::Lookup::Miss)
          << "key " << k << ", pass " << pass;
    if (pass == 1) {  // built fresh: no removed key left a larger reach behind
      for (uint64_t s = 0; s < d.capacity; ++s) {
        auto it = need.find(s);
        EXPECT_EQ(reach_of(d, s), it == need.end() ? 0 : std::min(it->second, shm::kReachUnbounded))
            << "slot " << s;
      }
    }
    t.writer->rebuild();
  }
}
