// The readers' side of usage counting (#19) in one process: threads, each
// with its own validator, counting while a collector-like thread reads their
// segments and a writer advances the heartbeat (the readers' clock). Under
// ThreadSanitizer this checks there is no data race between them; in every
// build, that the counts are exact per code and per key.
#include "table_fixture.hpp"
#include "tests/support/eventually.hpp"

#include "shm/src/usage_writer.hpp"
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

// A validator that sees many keys moves to a larger segment, made ahead by
// the process's spare maker (never in ek_validate). While its retired
// segment is not folded (nobody removes it here) it gets no further spare,
// so it keeps at most two files and counts the rest as unattributed, never
// losing an answer's code; once the retired one is removed, as edgekeyd's
// collector does, the next spare is made and counts again.
TEST(UsageCounting, AFullSegmentRollsOverToASpareAndNeverLosesACode) {
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
  auto validate = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      const std::string auth = "Bearer " + keys[i].token;
      ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
      ek_result r;
      ek_validate(v, &q, &r);
    }
  };
  // name -> (entries, retired) of each segment file.
  auto segments = [&] {
    std::map<std::string, std::pair<uint32_t, bool>> out;
    for (const std::string &n : shm::usage_segment_names(t.name)) {
      shm::UsageSegment s;
      if (s.open(shm::usage_dir(t.name) + "/" + n)) out[n] = {s.entries(), s.retired()};
    }
    return out;
  };
  validate(0, 500);  // past half of the first segment (1024 entries, 768 keys): a spare is asked for
  ASSERT_TRUE(eventually([&] { return segments().size() == 2; })) << "no spare made for the first segment";
  validate(500, 4000);  // the first fills and retires; the spare (2048 entries, 1536 keys) fills too
  const uint64_t round = shm::usage_spare_maker_rounds();  // the maker looks again, and makes no spare
  ASSERT_TRUE(eventually([&] { return shm::usage_spare_maker_rounds() >= round + 2; }));

  Totals got = read_all(t.name);
  EXPECT_EQ(got.codes[EK_CODE_OK], 4000u);
  EXPECT_EQ(got.key_uses + got.unattributed, 4000u);
  EXPECT_GT(got.key_uses, 768u) << "the spare counted no key";
  EXPECT_GT(got.unattributed, 0u) << "a third segment while the retired one was not folded";
  auto segs = segments();
  ASSERT_EQ(segs.size(), 2u);
  std::string retired;
  for (const auto &[n, s] : segs) {
    EXPECT_EQ(s.first, s.second ? 1024u : 2048u) << n;
    if (s.second) retired = n;
  }
  ASSERT_FALSE(retired.empty());

  // The collector folds the retired segment and removes it: the maker then
  // makes the next spare (4096 entries), where the keys the full second
  // segment does not hold are counted again.
  uint64_t retired_ok = 0;
  {
    shm::UsageSegment s;
    ASSERT_TRUE(s.open(shm::usage_dir(t.name) + "/" + retired));
    retired_ok = s.counter(EK_CODE_OK);
  }
  ASSERT_EQ(unlink((shm::usage_dir(t.name) + "/" + retired).c_str()), 0);
  ASSERT_TRUE(eventually([&] {
    for (const auto &[n, s] : segments())
      if (s.first == 4096u) return true;
    return false;
  })) << "no spare made once the retired segment was removed";
  validate(0, 4000);
  got = read_all(t.name);
  EXPECT_EQ(got.codes[EK_CODE_OK] + retired_ok, 8000u);
  uint64_t third_uses = 0;
  for (const std::string &n : shm::usage_segment_names(t.name)) {
    shm::UsageSegment s;
    if (!s.open(shm::usage_dir(t.name) + "/" + n) || s.entries() != 4096u) continue;
    for (uint32_t i = 0; i < s.entries(); ++i) third_uses += shm::usage_uses(s.word(i));
  }
  EXPECT_GT(third_uses, 2000u) << "the keys beyond the second segment were not counted in the spare";
  ek_close(v);
}

// The use that moves a validator to its spare is the spare's first key use,
// its code counted in the segment before: a validator closed right then
// must keep the spare (not remove it as one that counted nothing).
TEST(UsageCounting, AValidatorClosedRightAfterARolloverKeepsEveryUse) {
  TableFixture t("usage-roll-close", [](const std::string &n) {
    shm::TableOptions o = test_options(n);
    o.capacity = 4096;
    return o;
  });
  std::vector<Minted> keys;
  for (int i = 0; i < 1024; ++i) {
    keys.push_back(mint("key_" + std::to_string(i)));
    t.writer->put(keys.back().rec);
  }
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  auto validate = [&](size_t i) {
    const std::string auth = "Bearer " + keys[i].token;
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    ek_validate(v, &q, &r);
  };
  size_t n = 0;
  while (n < 500) validate(n++);  // past half the first segment's keys: a spare is asked for
  ASSERT_TRUE(eventually([&] { return shm::usage_segment_names(t.name).size() == 2; })) << "no spare made";
  auto spare_uses = [&] {
    uint64_t uses = 0;
    for (const std::string &name : shm::usage_segment_names(t.name)) {
      shm::UsageSegment s;
      if (s.open(shm::usage_dir(t.name) + "/" + name) && s.entries() == 2048u)
        for (uint32_t i = 0; i < s.entries(); ++i) uses += shm::usage_uses(s.word(i));
    }
    return uses;
  };
  while (n < keys.size() && spare_uses() == 0) validate(n++);
  ASSERT_EQ(spare_uses(), 1u) << "no rollover within " << n << " keys";
  ek_close(v);
  Totals got = read_all(t.name);
  EXPECT_EQ(got.codes[EK_CODE_OK], n);
  EXPECT_EQ(got.key_uses + got.unattributed, n) << "a key use lost at close";
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
