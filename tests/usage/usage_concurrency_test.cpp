// The readers' side of usage counting (#19) in one process: threads, each
// with its own validator, counting while a collector-like thread reads their
// segments and a writer advances the heartbeat (the readers' clock). Under
// ThreadSanitizer this checks there is no data race between them; in every
// build, that the counts are exact per code and per key.
#include "table_fixture.hpp"

#include "shm/writer/usage_reader.hpp"

#include <edgekey/edgekey.h>
#include <sys/stat.h>

#include <atomic>
#include <map>
#include <thread>
#include <vector>

namespace edgekey::test {
namespace {

struct Totals {
  std::map<int, uint64_t> codes;
  uint64_t key_uses = 0, keys = 0, unattributed = 0;
  int64_t last = 0;
};

Totals read_all(const std::string &table) {
  Totals t;
  for (const std::string &n : shm::usage_segment_names(table)) {
    shm::UsageSegment s;
    if (!s.open(shm::usage_dir(table) + "/" + n)) continue;
    for (int c = 0; c < EK_CODE_COUNT_; ++c) t.codes[c] += s.counter(c);
    t.unattributed += s.counter(shm::kUsageUnattributed);
    for (uint32_t i = 0; i < s.entries(); ++i) {
      const uint64_t w = s.word(i);
      if (!w) continue;
      ++t.keys;
      t.key_uses += shm::usage_uses(w);
      t.last = std::max(t.last, shm::usage_last(w));
    }
  }
  return t;
}

TEST(UsageCounting, ThreadsCountExactlyWhileTheirSegmentsAreRead) {
  TableFixture t("usage");
  std::vector<Minted> keys;
  for (int i = 0; i < 64; ++i) {
    keys.push_back(mint("key_" + std::to_string(i)));
    t.writer->put(keys.back().rec);
  }
  t.writer->revoke(keys[0].rec.hash);
  t.writer->heartbeat(1'000'000);

  constexpr int kThreads = 4, kRounds = 2000;
  std::atomic<bool> stop{false};
  std::thread collector([&] {  // reads what the readers write, as edgekeyd does
    while (!stop.load()) (void)read_all(t.name);
  });
  std::thread clock([&] {
    for (int64_t s = 1'000'001; !stop.load(); ++s) t.writer->heartbeat(s);
  });
  std::vector<std::thread> readers;
  for (int th = 0; th < kThreads; ++th)
    readers.emplace_back([&, th] {
      ek_validator *v = nullptr;
      ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
      ASSERT_EQ(ek_set_counting(v, 1), 1);
      for (int r = 0; r < kRounds; ++r) {
        const Minted &k = keys[size_t(1 + (r + th) % 63)];
        const std::string auth = "Bearer " + k.token;
        ek_request ok{auth.c_str(), "chat:write", nullptr, nullptr, nullptr};
        ek_request denied{auth.c_str(), "logs:read", nullptr, nullptr, nullptr};
        ek_request missing{"", nullptr, nullptr, nullptr, nullptr};
        const std::string rev = "Bearer " + keys[0].token;
        ek_request revoked{rev.c_str(), nullptr, nullptr, nullptr, nullptr};
        ek_result res;
        ek_validate(v, &ok, &res);
        ASSERT_EQ(res.code, EK_CODE_OK);
        ek_validate(v, &denied, &res);
        ASSERT_EQ(res.code, EK_CODE_INSUFFICIENT_PERMISSION);
        ek_validate(v, &missing, &res);
        if (r % 10 == 0) ek_validate(v, &revoked, &res);
      }
      ek_close(v);  // retired, not removed: it counted
    });
  for (auto &r : readers) r.join();
  stop = true;
  collector.join();
  clock.join();

  Totals got = read_all(t.name);
  EXPECT_EQ(got.codes[EK_CODE_OK], uint64_t(kThreads * kRounds));
  EXPECT_EQ(got.codes[EK_CODE_INSUFFICIENT_PERMISSION], uint64_t(kThreads * kRounds));
  EXPECT_EQ(got.codes[EK_CODE_MISSING_TOKEN], uint64_t(kThreads * kRounds));
  EXPECT_EQ(got.codes[EK_CODE_REVOKED_KEY], uint64_t(kThreads * kRounds / 10));
  EXPECT_EQ(got.unattributed, 0u);
  // Per key: every found key's use (ok, denied, revoked), 64 keys in each thread's segment.
  EXPECT_EQ(got.key_uses, uint64_t(kThreads * (2 * kRounds + kRounds / 10)));
  EXPECT_EQ(got.keys, uint64_t(kThreads * 64));
  EXPECT_GT(got.last, 1'000'000);
}

// A validator that sees many keys moves to larger segments; with nobody
// folding the retired one it keeps at most two and counts the rest as
// unattributed, never losing an answer's code.
TEST(UsageCounting, AFullSegmentRollsOverAndNeverLosesACode) {
  TableFixture t("usage-roll", [](const std::string &n) {
    shm::TableOptions o = test_options(n);
    o.capacity = 8192;
    return o;
  });
  std::vector<Minted> keys;
  for (int i = 0; i < 4000; ++i) {
    keys.push_back(mint("key_" + std::to_string(i)));
    t.writer->put(keys.back().rec);
  }
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  for (const Minted &k : keys) {
    const std::string auth = "Bearer " + k.token;
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    ek_validate(v, &q, &r);
  }
  Totals got = read_all(t.name);
  EXPECT_EQ(got.codes[EK_CODE_OK], 4000u);
  EXPECT_EQ(got.key_uses + got.unattributed, 4000u);
  EXPECT_EQ(shm::usage_segment_names(t.name).size(), 2u);  // the first (1024 entries) retired, a 2048 one
  EXPECT_GT(got.unattributed, 0u);                         // the second filled too, the first never folded
  ek_close(v);
}

TEST(UsageCounting, WithoutTheUsageDirectoryAReaderValidatesWithoutCounting) {
  TableFixture t("usage-none");
  const Minted k = mint("key_a");
  t.writer->put(k.rec);
  shm::remove_usage_dir(t.name);  // an older edgekeyd: no directory
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  EXPECT_EQ(ek_set_counting(v, 1), 0);
  const std::string auth = "Bearer " + k.token;
  ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
  ek_result r;
  ASSERT_EQ(ek_validate(v, &q, &r), 0);
  EXPECT_EQ(r.code, EK_CODE_OK);
  ek_close(v);
  // A directory that is not the table owner's is not written into.
  ASSERT_EQ(mkdir(shm::usage_dir(t.name).c_str(), 0777), 0);
  ASSERT_EQ(chmod(shm::usage_dir(t.name).c_str(), 0777), 0);
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  EXPECT_EQ(ek_set_counting(v, 1), 0) << "a world-writable directory was trusted";
  ek_close(v);
  // Counting can be turned off and on again.
  shm::remove_usage_dir(t.name);
  ASSERT_EQ(shm::prepare_usage_dir(t.name, ""), "");
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  EXPECT_EQ(ek_set_counting(v, 0), 0);
  ek_validate(v, &q, &r);
  EXPECT_TRUE(shm::usage_segment_names(t.name).empty());
  EXPECT_EQ(ek_set_counting(v, 1), 1);
  ek_validate(v, &q, &r);
  EXPECT_EQ(read_all(t.name).codes[EK_CODE_OK], 1u);
  ek_close(v);
}

}  // namespace
}  // namespace edgekey::test
