// The table's invariants under concurrency (docs/design.md "The shared table"):
//   1/2  no torn read and no false 401 while one writer upserts, revokes,
//        tombstones, grows and compacts at full speed;
//   4    a revocation is seen by every reader once the writer's call returned.
// Multi-process variants use real processes (fork) mapping the real segments;
// threaded variants share one address space so ThreadSanitizer can watch the
// seqlock protocol itself.
//
// Every record is self-checking (versioned_keys.hpp), so a torn copy shows
// as a mismatch.
#include "table_fixture.hpp"
#include "versioned_keys.hpp"

#include "shm/src/generation.hpp"
#include "shm/src/table_view.hpp"

#include <edgekey/validator.hpp>
#include <sys/mman.h>
#include <sys/wait.h>

#include <atomic>
#include <random>
#include <thread>

using namespace edgekey;
using namespace edgekey::test;

namespace {

using Keyring = VersionedKeys;

bool consistent(const ek_result &r, int i) { return answered_version(r, i).has_value(); }
bool consistent(const shm::SlotImage &s, int i) { return slot_version(s, i).has_value(); }

// Counters shared by all processes of a run (an anonymous shared mapping).
struct Shared {
  std::atomic<uint64_t> validations, torn, false_401, unexpected, busy, writer_ops, generations;
  std::atomic<int> stop;
};

Shared *shared_counters() {
  void *p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  return new (p) Shared{};
}

// Keys [0, stable) are always present (updated in place); [stable, n) churn:
// removed, re-added and revoked. Fillers make the table grow; every so often
// the writer compacts into a new generation.
struct Workload {
  int stable = 1000, churn = 1000;
  int fillers = 20000;
  bool grow = true;
};

void run_writer(shm::TableWriter &w, const Keyring &keys, const Keyring &filler, const Workload &wl,
                Shared &sh) {
  std::mt19937_64 rng(99);
  std::vector<uint64_t> ver(keys.tokens.size(), 0);
  int next_filler = 0;
  uint64_t ops = 0;
  while (!sh.stop.load(std::memory_order_relaxed)) {
    int i = int(rng() % wl.stable);
    w.put(keys.record(i, ++ver[i]));
    int j = wl.stable + int(rng() % wl.churn);
    switch (rng() % 3) {
      case 0: w.remove(keys.hashes[j]); break;
      case 1: w.put(keys.record(j, ++ver[j])); break;
      case 2: w.revoke(keys.hashes[j]); break;
    }
    ops += 2;
    if (wl.grow) {
      if (next_filler < wl.fillers) {
        w.put(filler.record(next_filler++, 1));
      } else {  // tombstone the fillers, then compact them away
        for (int f = 0; f < wl.fillers; ++f) w.remove(filler.hashes[f]);
        w.rebuild();
        next_filler = 0;
      }
    }
  }
  sh.writer_ops += ops;
}

void run_reader(const char *table, const Keyring &keys, const Workload &wl, uint64_t count,
                Shared &sh, int seed) {
  auto v = Validator::open(table);
  if (!v) {
    sh.unexpected += 1;
    return;
  }
  std::mt19937_64 rng(seed);
  uint64_t torn = 0, false_401 = 0, unexpected = 0, busy = 0;
  const int n = wl.stable + wl.churn;
  for (uint64_t k = 0; k < count; ++k) {
    int i = int(rng() % n);
    Result r = v.validate(keys.tokens[i]);
    if (r.status == 503) {
      ++busy;  // a slot stayed mid-write past the retry bound (writer preempted)
    } else if (i < wl.stable) {
      if (r.status == 401) ++false_401;
      else if (r.status != 200) ++unexpected;
      else if (!consistent(r, i)) ++torn;
    } else if (r.status == 200 || r.code == EK_CODE_REVOKED_KEY) {
      if (!consistent(r, i)) ++torn;
    } else if (r.code != EK_CODE_UNKNOWN_KEY) {
      ++unexpected;
    }
  }
  sh.validations += count;
  sh.torn += torn;
  sh.false_401 += false_401;
  sh.unexpected += unexpected;
  sh.busy += busy;
}

// Keys 0..n-1 at version 0: the table every race starts from.
std::vector<shm::TableRecord> first_versions(const Keyring &keys, int n) {
  std::vector<shm::TableRecord> init;
  for (int i = 0; i < n; ++i) init.push_back(keys.record(i, 0));
  return init;
}

// The writer's workload on one thread against two reader threads, each
// running read(r) for r = 0, 1; the writer is stopped once both are done.
template <class Read>
void race_two_reader_threads(shm::TableWriter &w, const Keyring &keys, const Keyring &filler,
                             const Workload &wl, Shared &sh, Read read) {
  std::thread writer([&] { run_writer(w, keys, filler, wl, sh); });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) readers.emplace_back([&read, r] { read(r); });
  for (auto &t : readers) t.join();
  sh.stop = 1;
  writer.join();
}

uint64_t env_count(const char *name, uint64_t dflt) {
  const char *s = getenv(name);
  return s && *s ? std::strtoull(s, nullptr, 10) : dflt;
}

shm::TableOptions small_table(const std::string &name) {
  shm::TableOptions o = test_options(name);
  o.capacity = 1024;  // starts small: the run grows it many times
  return o;
}

}  // namespace

// No torn read, no false 401, across processes: one writer process, four reader processes,
// at least 10 million validations (EDGEKEY_STRESS_VALIDATIONS lowers it for
// the slower sanitizer builds).
TEST(Concurrency, ProcessesSeeNoTornReadAndNoFalse401) {
  const std::string name = unique_table_name("mp");
  const Workload wl;
  const Keyring keys(wl.stable + wl.churn), filler(wl.fillers);
  const uint64_t total = env_count("EDGEKEY_STRESS_VALIDATIONS", 10'000'000);
  const int readers = 4;
  Shared *sh = shared_counters();
  {
    shm::TableWriter w(small_table(name));
    w.load(first_versions(keys, wl.stable + wl.churn));
  }  // the writer process re-attaches to this table

  pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    try {
      shm::TableWriter w(small_table(name));
      run_writer(w, keys, filler, wl, *sh);
      sh->generations = w.stats().generation;
    } catch (const std::exception &e) {
      fprintf(stderr, "writer: %s\n", e.what());
      _exit(2);
    }
    _exit(0);
  }
  std::vector<pid_t> pids;
  for (int r = 0; r < readers; ++r) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      run_reader(name.c_str(), keys, wl, total / readers, *sh, 1000 + r);
      _exit(0);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "reader status " << st;
  }
  sh->stop = 1;
  int st = 0;
  ASSERT_EQ(waitpid(writer, &st, 0), writer);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "writer status " << st;
  shm::TableWriter::destroy(name);

  EXPECT_GE(sh->validations.load(), total / readers * readers);
  EXPECT_EQ(sh->torn.load(), 0u);
  EXPECT_EQ(sh->false_401.load(), 0u);
  EXPECT_EQ(sh->unexpected.load(), 0u);
  EXPECT_LT(sh->busy.load(), sh->validations.load() / 1000);
  EXPECT_GT(sh->writer_ops.load(), 1000u);
  EXPECT_GT(sh->generations.load(), 3u) << "the table should have grown and compacted";
  printf("validations %llu, writer ops %llu, generations %llu, busy (503) %llu\n",
         (unsigned long long)sh->validations.load(), (unsigned long long)sh->writer_ops.load(),
         (unsigned long long)sh->generations.load(), (unsigned long long)sh->busy.load());
  munmap(sh, sizeof(Shared));
}

// Readers never block, write or race, in one address space, for ThreadSanitizer: readers probe the
// writer's own mapping with the reader's seqlock code (find_slot). The
// capacity is fixed so no generation is unmapped under them.
TEST(Concurrency, ThreadsSeeWholeRecordsOnTheWritersMapping) {
  TableFixture t("tsan", [](const std::string &n) {
    shm::TableOptions o = test_options(n);
    o.capacity = 8192;
    return o;
  });
  Workload wl;
  wl.grow = false;
  const Keyring keys(wl.stable + wl.churn), filler(0);
  t.writer->load(first_versions(keys, wl.stable + wl.churn));
  const shm::DataView view = t.writer->current()->view();
  Shared sh{};
  const uint64_t per_reader = env_count("EDGEKEY_STRESS_THREAD_VALIDATIONS", 200'000);

  race_two_reader_threads(*t.writer, keys, filler, wl, sh, [&](int r) {
    std::mt19937_64 rng(r);
    uint64_t torn = 0, false_401 = 0;
    for (uint64_t k = 0; k < per_reader; ++k) {
      int i = int(rng() % (wl.stable + wl.churn));
      shm::SlotImage s;
      shm::Lookup l = shm::find_slot(view, keys.hashes[i].data(), s);
      if (l == shm::Lookup::Hit && !consistent(s, i)) ++torn;
      if (l == shm::Lookup::Miss && i < wl.stable) ++false_401;
    }
    sh.validations += per_reader;
    sh.torn += torn;
    sh.false_401 += false_401;
  });
  EXPECT_EQ(sh.torn.load(), 0u);
  EXPECT_EQ(sh.false_401.load(), 0u);
  EXPECT_GT(sh.writer_ops.load(), 0u);
}

// The same through the public API in threads, with growth and compaction
// (each validator maps its own view of each generation).
TEST(Concurrency, ThreadsThroughTheApiAcrossGenerations) {
  TableFixture t("threads", small_table);
  Workload wl;
  wl.fillers = 5000;
  const Keyring keys(wl.stable + wl.churn), filler(wl.fillers);
  t.writer->load(first_versions(keys, wl.stable + wl.churn));
  Shared sh{};
  const uint64_t per_reader = env_count("EDGEKEY_STRESS_THREAD_VALIDATIONS", 200'000);
  race_two_reader_threads(*t.writer, keys, filler, wl, sh,
                          [&](int r) { run_reader(t.name.c_str(), keys, wl, per_reader, sh, r); });
  EXPECT_EQ(sh.torn.load(), 0u);
  EXPECT_EQ(sh.false_401.load(), 0u);
  EXPECT_EQ(sh.unexpected.load(), 0u);
  EXPECT_GT(t.writer->stats().generation, 2u);
}

// A revocation is visible once the writer's call returns: the writer process revokes a key, then tells every reader
// process through a pipe; each reader must see it revoked on its next call.
TEST(Concurrency, ARevocationIsSeenByEveryReaderOnceTheCallReturns) {
  const std::string name = unique_table_name("revoke");
  const int n = 500, readers = 4;
  const Keyring keys(n);
  {
    shm::TableWriter w(test_options(name));
    w.load(first_versions(keys, n));
  }
  int to_reader[readers][2], from_reader[readers][2];
  for (int r = 0; r < readers; ++r) {
    ASSERT_EQ(pipe(to_reader[r]), 0);
    ASSERT_EQ(pipe(from_reader[r]), 0);
  }
  std::vector<pid_t> pids;
  for (int r = 0; r < readers; ++r) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int o = 0; o < readers; ++o) close(to_reader[o][1]);  // EOF when the writer is done
      auto v = Validator::open(name.c_str());
      int failures = v ? 0 : 1000;
      int32_t k;
      while (read(to_reader[r][0], &k, sizeof k) == sizeof k) {
        if (v.validate(keys.tokens[k]).code != EK_CODE_REVOKED_KEY) ++failures;
        if (k + 1 < n && !v.validate(keys.tokens[k + 1]).ok()) ++failures;  // not yet revoked
        char ack = failures ? 'F' : 'k';
        if (write(from_reader[r][1], &ack, 1) != 1) _exit(3);
      }
      _exit(failures ? 1 : 0);
    }
    pids.push_back(pid);
  }
  pid_t writer = fork();
  ASSERT_GE(writer, 0);
  if (writer == 0) {
    shm::TableWriter w(test_options(name));
    int failures = 0;
    for (int32_t k = 0; k < n; ++k) {
      if (!w.revoke(keys.hashes[k])) ++failures;
      for (int r = 0; r < readers; ++r)
        if (write(to_reader[r][1], &k, sizeof k) != sizeof k) _exit(3);
      for (int r = 0; r < readers; ++r) {
        char ack;
        if (read(from_reader[r][0], &ack, 1) != 1 || ack != 'k') ++failures;
      }
    }
    for (int r = 0; r < readers; ++r) close(to_reader[r][1]);
    _exit(failures ? 1 : 0);
  }
  for (int r = 0; r < readers; ++r) close(to_reader[r][1]);
  int st = 0;
  ASSERT_EQ(waitpid(writer, &st, 0), writer);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "writer saw failures, status " << st;
  for (pid_t pid : pids) {
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "a reader saw a revoked key valid";
  }
  shm::TableWriter::destroy(name);
}
