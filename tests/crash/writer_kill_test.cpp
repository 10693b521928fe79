// The table writer killed with SIGKILL at random points (no torn read, no
// false 401, the table outlives its writer, an odd slot is 503), with real
// processes:
//   - a writer child per iteration re-attaches, repairs (a full load of the
//     upstream's truth, as a restarted edgekeyd does), then changes keys until
//     it dies: mostly at the EDGEKEY_FAILPOINT slot_write:N[:W] failpoint,
//     between the two sequence increments of its N-th slot write, the rest by
//     an external SIGKILL once it has made a random number of changes;
//   - reader processes validate self-checking keys through ek_open/ek_validate
//     during all of it and count torn records, false 401s, 503s and errors;
//   - between two writers the test itself sweeps every key: before the
//     repair, a key answers 503 exactly when the dead writer left an odd slot
//     (and the next writer's torn_slots() says so); after it, every key answers
//     exactly what the truth says, and the stored revision is the one resumed.
//
// Every record is self-checking (tests/shm/versioned_keys.hpp), so half a
// record shows as a mismatch.
#include "crash_support.hpp"

#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "table_fixture.hpp"
#include "versioned_keys.hpp"

#include <cstring>

using namespace edgekey;
using namespace edgekey::crashtest;

namespace {

constexpr int kStable = 48;  // never revoked or removed: a 401 for them is false
constexpr int kChurn = 24;   // removed, re-added, revoked
constexpr int kKeys = kStable + kChurn;

enum KeyState : uint8_t { Active = 0, Revoked = 1, Removed = 2 };

// The upstream: what each key is, and its revision. Changed by the writer
// child before it applies a change to the table (the order of a real source).
struct Truth {
  std::atomic<uint32_t> ver[kKeys];
  std::atomic<uint8_t> state[kKeys];
  std::atomic<uint64_t> rev_intended;  // revision of the last upstream change
  std::atomic<uint64_t> rev_done;      // last revision the writer stored after applying it
  std::atomic<uint64_t> ops;           // changes applied by the current writer
};

// What a writer child reports once it has attached and repaired.
struct AttachReport {
  int ok;  // 1, or 0 with `error`
  int attached;
  uint64_t torn;
  uint64_t revision;  // revision() right after attach, before the repair
  uint64_t generation_before, generation_after;
  char error[200];
};

// The shm tests' role/permission model, with room for kKeys.
shm::TableOptions options(const std::string &name) {
  shm::TableOptions o = edgekey::test::test_options(name);
  o.capacity = 128;
  return o;
}

struct Keyring : edgekey::test::VersionedKeys {
  Keyring() : VersionedKeys(kKeys) {}
};

std::optional<uint64_t> whole_version(const ek_result &r, int i) { return edgekey::test::answered_version(r, i); }

// A reader's rule, which holds whatever the writer is doing.
Verdict judge(size_t idx, const ek_result &r) {
  const int i = int(idx);
  if (r.status == 503) return r.code == EK_CODE_KEYSET_UNAVAILABLE ? Verdict::Busy : Verdict::Wrong;
  if (r.status == 200 || r.code == EK_CODE_REVOKED_KEY) {
    if (i < kStable && r.status != 200) return Verdict::False401;
    return whole_version(r, i) ? Verdict::Ok : Verdict::Torn;
  }
  if (r.status == 401) return i < kStable ? Verdict::False401 : (r.code == EK_CODE_UNKNOWN_KEY ? Verdict::Ok : Verdict::Wrong);
  return Verdict::Wrong;
}

// The writer child: what a restarted edgekeyd does (attach, full load of the
// upstream at its revision), then upstream changes applied until it is killed.
[[noreturn]] void writer_child(const std::string &name, const Keyring &keys, Truth &t, const std::string &failpoint,
                               int report_fd, int go_fd, uint64_t seed) {
  AttachReport rep{};
  if (failpoint.empty()) unsetenv("EDGEKEY_FAILPOINT");
  else setenv("EDGEKEY_FAILPOINT", failpoint.c_str(), 1);
  try {
    shm::TableWriter w(options(name));
    rep.attached = w.attached();
    rep.torn = w.torn_slots();
    rep.revision = w.revision();
    rep.generation_before = w.stats().generation;
    std::vector<shm::TableRecord> all;
    for (int i = 0; i < kKeys; ++i)
      if (t.state[i] != Removed) all.push_back(keys.record(i, t.ver[i], t.state[i] == Revoked));
    w.load(all);
    const uint64_t rev = t.rev_intended.load();
    w.set_revision(rev);
    t.rev_done = rev;
    t.ops = 0;
    rep.generation_after = w.stats().generation;
    rep.ok = 1;
    if (write(report_fd, &rep, sizeof rep) != ssize_t(sizeof rep)) _exit(4);
    char go;
    if (read(go_fd, &go, 1) != 1) _exit(0);  // the test is done with us

    std::mt19937_64 rng(seed);
    for (uint64_t n = 1;; ++n) {
      const int i = int(rng() % kKeys);
      const uint64_t r = t.rev_intended.load() + 1;
      if (i < kStable) {  // a new version, in place
        const uint32_t v = t.ver[i] + 1;
        t.ver[i] = v;
        t.rev_intended = r;
        w.put(keys.record(i, v, false));
      } else {
        switch (rng() % 3) {
          case 0:
            t.state[i] = Removed;
            t.rev_intended = r;
            w.remove(keys.hashes[i]);
            break;
          case 1: {
            const uint32_t v = t.ver[i] + 1;
            t.ver[i] = v;
            t.state[i] = Active;
            t.rev_intended = r;
            w.put(keys.record(i, v, false));
            break;
          }
          case 2:
            if (t.state[i] == Active) t.state[i] = Revoked;
            t.rev_intended = r;
            w.revoke(keys.hashes[i]);
            break;
        }
      }
      w.set_revision(r);
      t.rev_done = r;
      t.ops = n;
      if (n % 100 == 0) w.rebuild();  // compaction into a new generation: kills land there too
    }
  } catch (const std::exception &e) {
    rep.ok = 0;
    snprintf(rep.error, sizeof rep.error, "%s", e.what());
    if (write(report_fd, &rep, sizeof rep) != ssize_t(sizeof rep)) _exit(4);
    _exit(2);
  }
}

struct Sweep {
  int busy = 0, torn = 0, false_401 = 0, mismatch = 0, errors = 0;
};

// Every key once, with no writer running: `exact` demands the truth itself;
// otherwise the readers' rule (a dead writer's last change may be half there).
Sweep sweep(ek_validator *v, const Keyring &keys, const Truth &t, bool exact) {
  Sweep s;
  ek_request req{};
  ek_result r;
  for (int i = 0; i < kKeys; ++i) {
    req.authorization = keys.tokens[i].c_str();
    if (ek_validate(v, &req, &r) != 0) {
      ++s.errors;
      continue;
    }
    switch (judge(size_t(i), r)) {
      case Verdict::Busy: ++s.busy; break;
      case Verdict::Torn: ++s.torn; break;
      case Verdict::False401: ++s.false_401; break;
      case Verdict::Wrong: ++s.mismatch; break;
      case Verdict::Ok: break;
    }
    if (!exact) continue;
    const uint8_t st = t.state[i];
    const bool right = st == Removed ? r.code == EK_CODE_UNKNOWN_KEY
                                     : (r.code == (st == Active ? EK_CODE_OK : EK_CODE_REVOKED_KEY) &&
                                        whole_version(r, i) == t.ver[i].load());
    if (!right) ++s.mismatch;
  }
  return s;
}

}  // namespace

TEST(CrashWriter, KilledAtRandomPointsReadersNeverSeeATornRecordAndTheRestartRepairs) {
  const uint64_t kills = env_count("EDGEKEY_CRASH_KILLS", 1000);
  const int n_readers = 2;
  const std::string name = "ektest-crash-" + std::to_string(getpid());
  shm::TableWriter::destroy(name);
  const Keyring keys;
  Truth *t = shared_block<Truth>();
  ASSERT_NE(t, nullptr);
  pid_t w = -1;  // the current writer child
  OnExit cleanup{[&] {
    if (w > 0) reap(w);
    shm::TableWriter::destroy(name);
    free_shared_block(t);
  }};
  for (int i = 0; i < kKeys; ++i) t->ver[i] = 0, t->state[i] = Active;
  t->rev_intended = 1;
  {  // the first edgekeyd: creates the table and loads it
    shm::TableWriter first(options(name));
    std::vector<shm::TableRecord> all;
    for (int i = 0; i < kKeys; ++i) all.push_back(keys.record(i, 0, false));
    first.load(all);
    first.set_revision(1);
    t->rev_done = 1;
  }
  ReaderProcs readers;
  ASSERT_NE(readers.c, nullptr);
  ASSERT_TRUE(readers.spawn(n_readers, name, keys.tokens, judge, 7000)) << "a reader could not open the table";
  ReaderCounters *rc = readers.c;

  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(name.c_str(), &v), 0);
  std::mt19937_64 rng(env_count("EDGEKEY_CRASH_SEED", 12345));
  const uint64_t t0 = now_ns();

  uint64_t failpoint_kills = 0, external_kills = 0, torn_attaches = 0, sweeps_with_503 = 0, keys_503 = 0;
  uint64_t torn_mismatch = 0, repair_failures = 0, revision_failures = 0, writer_failures = 0;
  uint64_t pre_torn = 0, pre_false_401 = 0, pre_wrong = 0, validations_before = rc->validations.load();
  bool pending_torn_check = false;
  int last_busy = 0;

  for (uint64_t k = 0; k < kills; ++k) {
    // The dead writer's table, as readers now see it.
    if (k > 0) {
      Sweep pre = sweep(v, keys, *t, false);
      pre_torn += pre.torn;
      pre_false_401 += pre.false_401;
      pre_wrong += pre.mismatch + pre.errors;
      last_busy = pre.busy;
      if (pre.busy) ++sweeps_with_503, keys_503 += pre.busy;
      pending_torn_check = true;
    }
    uint64_t stored_revision;
    {
      ControlPeek ctl(name);
      ASSERT_TRUE(ctl.ok());
      stored_revision = ctl.revision();
    }
    const uint64_t rev_done = t->rev_done, rev_intended = t->rev_intended;

    // 3 in 4 die at the failpoint, mid-record; its N spans the repair load,
    // the changes and the compactions; W = data words written before death.
    const bool at_failpoint = rng() % 4 != 0;
    std::string fp;
    if (at_failpoint)
      fp = "slot_write:" + std::to_string(1 + rng() % (4 * kKeys)) + ":" + std::to_string(rng() % shm::kSlotWords);
    int report[2], go[2];
    ASSERT_EQ(pipe(report), 0);
    ASSERT_EQ(pipe(go), 0);
    const uint64_t seed = rng();
    w = fork();
    ASSERT_GE(w, 0);
    if (w == 0) {
      close(report[0]);
      close(go[1]);
      writer_child(name, keys, *t, fp, report[1], go[0], seed);
    }
    close(report[1]);
    close(go[0]);

    AttachReport rep{};
    const ssize_t got = read(report[0], &rep, sizeof rep);
    close(report[0]);
    if (got == ssize_t(sizeof rep) && rep.ok) {
      if (!rep.attached) ++writer_failures;
      if (pending_torn_check && (rep.torn > 0) != (last_busy > 0)) ++torn_mismatch;
      if (rep.torn) ++torn_attaches;
      // Resumed from the stored revision, which is what the dead writer had
      // applied: at least its last completed change, at most the one it was in.
      if (rep.revision != stored_revision || rep.revision < rev_done || rep.revision > rev_intended)
        ++revision_failures;
      // Repaired: with no writer moving, every key is exactly the truth.
      Sweep post = sweep(v, keys, *t, true);
      if (post.busy || post.torn || post.false_401 || post.mismatch || post.errors) {
        ++repair_failures;
        ADD_FAILURE() << "kill " << k << ": after the repair " << post.busy << " busy, " << post.torn << " torn, "
                      << post.false_401 << " false 401, " << post.mismatch << " wrong (torn at attach " << rep.torn
                      << ")";
      }
      pending_torn_check = false;
      char g = 'g';
      ASSERT_EQ(write(go[1], &g, 1), 1);
    } else if (got == ssize_t(sizeof rep)) {
      ++writer_failures;
      ADD_FAILURE() << "kill " << k << ": writer failed: " << rep.error;
    }
    // got == 0: the failpoint fired during the repair load itself (the
    // unpublished generation dies with it); readers keep the old table.
    close(go[1]);

    std::optional<int> st;
    if (at_failpoint) {
      st = wait_exit(w, std::chrono::milliseconds(20000));
    } else {
      const uint64_t target = 1 + rng() % 100;
      poll_until([&] { return t->ops.load() >= target || exited(w); }, std::chrono::milliseconds(20000));
      kill(w, SIGKILL);
      st = wait_exit(w, std::chrono::milliseconds(20000));
    }
    if (!st) {
      ++writer_failures;
      ADD_FAILURE() << "kill " << k << ": the writer did not die (failpoint " << fp << ")";
      reap(w);
    } else if (!(WIFSIGNALED(*st) && WTERMSIG(*st) == SIGKILL)) {
      ++writer_failures;
      ADD_FAILURE() << "kill " << k << ": writer " << describe_status(*st) << " (failpoint " << fp << ")";
    }
    w = -1;
    (at_failpoint ? failpoint_kills : external_kills) += 1;
    if (HasFatalFailure() || writer_failures > 5) break;
  }

  // One last restart repairs whatever the last kill left.
  {
    Sweep pre = sweep(v, keys, *t, false);
    pre_torn += pre.torn;
    pre_false_401 += pre.false_401;
    pre_wrong += pre.mismatch + pre.errors;
    shm::TableWriter w(options(name));
    EXPECT_EQ(w.torn_slots() > 0, pre.busy > 0);
    EXPECT_GE(w.revision(), t->rev_done.load());
    EXPECT_LE(w.revision(), t->rev_intended.load());
    std::vector<shm::TableRecord> all;
    for (int i = 0; i < kKeys; ++i)
      if (t->state[i] != Removed) all.push_back(keys.record(i, t->ver[i], t->state[i] == Revoked));
    w.load(all);
    Sweep post = sweep(v, keys, *t, true);
    EXPECT_EQ(post.busy + post.torn + post.false_401 + post.mismatch + post.errors, 0);
  }
  const uint64_t during = rc->validations.load() - validations_before;
  const int stuck = readers.stop();
  ek_close(v);
  const double secs = double(now_ns() - t0) / 1e9;

  printf("kills %llu (failpoint %llu, external %llu) in %.1f s; torn at attach %llu; sweeps with 503 %llu "
         "(%llu keys)\n",
         (unsigned long long)(failpoint_kills + external_kills), (unsigned long long)failpoint_kills,
         (unsigned long long)external_kills, secs, (unsigned long long)torn_attaches,
         (unsigned long long)sweeps_with_503, (unsigned long long)keys_503);
  check_readers(*rc, during);

  EXPECT_EQ(failpoint_kills + external_kills, kills);
  EXPECT_EQ(writer_failures, 0u);
  EXPECT_EQ(stuck, 0) << "a reader never returned from ek_validate";
  EXPECT_EQ(pre_torn, 0u);
  EXPECT_EQ(pre_false_401, 0u);
  EXPECT_EQ(pre_wrong, 0u);
  EXPECT_EQ(torn_mismatch, 0u) << "torn_slots() at attach disagrees with the keys readers answer 503 for";
  EXPECT_EQ(repair_failures, 0u);
  EXPECT_EQ(revision_failures, 0u);
  EXPECT_GT(during, kills) << "readers should validate throughout the kills";
  if (kills >= 100) {
    // The failpoint did leave half-written records, and readers bailed out of them.
    EXPECT_GT(torn_attaches, kills / 10);
    EXPECT_GT(sweeps_with_503, kills / 10);
  }
}
