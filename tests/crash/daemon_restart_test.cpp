// The real edgekeyd restarted 100 times under reader processes (a killed
// writer leaves a table readers keep using; a record it was inside is 503): stopped by SIGTERM, killed by SIGKILL
// once ready or at once (a random point of its start-up), or killed by the
// EDGEKEY_FAILPOINT failpoint in the middle of a record, while loading or
// while applying a keyset change. Readers validate continuously through
// libedgekey's C API: every answer is the right one or a 503, never a false
// 401. After each death the test reads the table itself (a half-written
// record answers 503, nothing else); after each restart every key answers
// exactly, and the daemon resumed from the revision stored in the table.
#include "crash_support.hpp"
#include "daemon_fixture.hpp"

#include <nlohmann/json.hpp>

using namespace edgekey;
using namespace edgekey::test;
using namespace edgekey::crashtest;

namespace {

constexpr int kStable = 16;
constexpr int kRevoked = kStable;       // index of the revoked key
constexpr int kToggle = kStable + 1;    // revoked and restored by keyset changes
constexpr int kUnknown = kStable + 2;   // two tokens never in the keyset
constexpr int kTokens = kStable + 4;
constexpr int kRecords = kStable + 2;   // slot writes of a full load
constexpr int64_t kToggleOnExpiry = 4000000000, kToggleOffExpiry = 4100000000;  // never expired

std::string stable_id(int i) { return "key_stable_" + std::to_string(i); }

// The readers' rule, whatever the daemon is doing.
Verdict judge(size_t idx, const ek_result &r) {
  const int i = int(idx);
  if (r.status == 503) return r.code == EK_CODE_KEYSET_UNAVAILABLE ? Verdict::Busy : Verdict::Wrong;
  const std::string_view id = r.key_id, ws = r.workspace;
  if (i < kStable) {
    if (r.status == 401) return Verdict::False401;
    if (r.status != 200) return Verdict::Wrong;
    return id == stable_id(i) && ws == "ws_test" && std::string_view(r.role) == "developer" ? Verdict::Ok
                                                                                             : Verdict::Torn;
  }
  if (i == kRevoked) return r.code == EK_CODE_REVOKED_KEY && id == "key_revoked" ? Verdict::Ok : Verdict::Wrong;
  if (i == kToggle) {  // each state self-checking, across both cache lines of the slot
    if (r.status == 401 && r.code != EK_CODE_REVOKED_KEY) return Verdict::False401;
    if (id != "key_toggle" || (r.code != EK_CODE_OK && r.code != EK_CODE_REVOKED_KEY)) return Verdict::Wrong;
    const bool off = r.code == EK_CODE_REVOKED_KEY;
    const bool whole = std::string_view(r.role) == (off ? "viewer" : "developer") &&
                       ws == (off ? "ws_off" : "ws_on") && r.expires_at == (off ? kToggleOffExpiry : kToggleOnExpiry);
    return whole ? Verdict::Ok : Verdict::Torn;
  }
  return r.code == EK_CODE_UNKNOWN_KEY ? Verdict::Ok : Verdict::Wrong;
}

struct Sweep {
  int busy = 0, bad = 0;
  bool toggle_busy = false;
};

// Every token once. `toggle_revoked` set: the exact answer is demanded.
Sweep sweep(ek_validator *v, const std::vector<std::string> &tokens, std::optional<bool> toggle_revoked) {
  Sweep s;
  ek_request req{};
  ek_result r;
  for (int i = 0; i < kTokens; ++i) {
    req.authorization = tokens[size_t(i)].c_str();
    if (ek_validate(v, &req, &r) != 0) {
      ++s.bad;
      continue;
    }
    const Verdict j = judge(size_t(i), r);
    if (j == Verdict::Busy) {
      ++s.busy;
      if (i == kToggle) s.toggle_busy = true;
      if (toggle_revoked) ++s.bad;
    } else if (j != Verdict::Ok) {
      ++s.bad;
    } else if (toggle_revoked && i == kToggle && (r.code == EK_CODE_REVOKED_KEY) != *toggle_revoked) {
      ++s.bad;
    }
  }
  return s;
}

size_t count_of(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

enum class Death { Term, KillReady, KillEarly, FailpointChange, FailpointLoad };

}  // namespace

TEST(CrashDaemon, RestartedUnderReadersEveryAnswerIsRightOr503) {
  const uint64_t restarts = env_count("EDGEKEY_CRASH_RESTARTS", 100);
  DaemonProcess d;
  std::vector<sync::KeyRecord> records;
  std::vector<std::string> tokens;
  for (int i = 0; i < kStable; ++i) {
    MintedKey k = mint_key(stable_id(i));
    tokens.push_back(k.token);
    records.push_back(k.record);
  }
  MintedKey revoked = mint_key("key_revoked"), toggle = mint_key("key_toggle");
  revoked.record.status = sync::KeyStatus::Revoked;
  revoked.record.revoked_at = int64_t(time(nullptr));
  for (MintedKey *k : {&revoked, &toggle}) {
    tokens.push_back(k->token);
    records.push_back(k->record);
  }
  for (int u = 0; u < 2; ++u) tokens.push_back(mint_key("key_unknown").token);
  ASSERT_EQ(tokens.size(), size_t(kTokens));
  bool toggle_revoked = false;
  auto keyset = [&] {
    sync::KeyRecord &t = records[kToggle];
    t.status = toggle_revoked ? sync::KeyStatus::Revoked : sync::KeyStatus::Active;
    t.revoked_at = toggle_revoked ? std::optional<int64_t>(int64_t(time(nullptr))) : std::nullopt;
    t.role = toggle_revoked ? "viewer" : "developer";
    t.workspace = toggle_revoked ? "ws_off" : "ws_on";
    t.expires_at = toggle_revoked ? kToggleOffExpiry : kToggleOnExpiry;
    d.write_keys(records);
  };
  keyset();
  d.start_ready();  // the first edgekeyd creates the table; readers then map it
  ASSERT_EQ(d.stop(SIGTERM), 0);

  OnExit kill_daemon{[&] {  // on any early return: SIGTERM could wait on a daemon blocked in sd_notify
    if (d.pid > 0) d.stop(SIGKILL);
  }};
  ReaderProcs readers;
  ASSERT_NE(readers.c, nullptr);
  ASSERT_TRUE(readers.spawn(2, d.table, tokens, judge, 9000)) << "a reader could not open the table";
  ReaderCounters *rc = readers.c;
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(d.table.c_str(), &v), 0);

  std::mt19937_64 rng(env_count("EDGEKEY_CRASH_SEED", 4242));
  const uint64_t t0 = now_ns(), validations_before = rc->validations.load();
  uint64_t by[5] = {}, torn_events = 0, repaired = 0, repair_failures = 0, revision_failures = 0;
  uint64_t crashes = 0, left_bad = 0, torn_mismatch = 0, ready_after_torn = 0;
  bool torn_left = false;

  for (uint64_t k = 0; k < restarts && !HasFatalFailure(); ++k) {
    const int dice = int(rng() % 20);
    const Death how = dice < 6    ? Death::Term
                      : dice < 11 ? Death::KillReady
                      : dice < 14 ? Death::KillEarly
                      : dice < 18 ? Death::FailpointChange
                                  : Death::FailpointLoad;
    uint64_t stored;
    {
      ControlPeek ctl(d.table);
      ASSERT_TRUE(ctl.ok());
      stored = ctl.revision();
    }
    std::vector<std::string> env;
    const std::string words = std::to_string(rng() % shm::kSlotWords);
    if (how == Death::FailpointChange)  // the first write after the full load: the keyset change
      env.push_back("EDGEKEY_FAILPOINT=slot_write:" + std::to_string(kRecords + 1) + ":" + words);
    else if (how == Death::FailpointLoad)
      env.push_back("EDGEKEY_FAILPOINT=slot_write:" + std::to_string(1 + rng() % kRecords) + ":" + words);
    d.start(env);
    if (how == Death::KillEarly) kill(d.pid, SIGKILL);  // wherever its start-up is
    if (how != Death::KillEarly && how != Death::FailpointLoad) {
      ASSERT_TRUE(d.wait_notify("READY=1", 20000ms)) << "restart " << k << ": not ready; log:\n" << d.log();
      if (torn_left) ++ready_after_torn;
      // Resumed from the stored revision (a file upstream's load is the next one).
      auto status = nlohmann::json::parse(d.get("/v1/status").body, nullptr, false);
      if (status.is_discarded() || status["upstream"]["revision"] != stored + 1) {
        ++revision_failures;
        ADD_FAILURE() << "restart " << k << ": revision "
                      << (status.is_discarded() ? "?" : status["upstream"]["revision"].dump()) << ", stored "
                      << stored;
      }
      // Repaired: every key exactly as the keyset says, no 503 left.
      Sweep now = sweep(v, tokens, toggle_revoked);
      if (now.bad) {
        ++repair_failures;
        ADD_FAILURE() << "restart " << k << ": " << now.bad << " wrong answers after READY (503s " << now.busy
                      << ", half-written record left before: " << torn_left << ")";
      }
      if (torn_left) ++repaired;
      torn_left = false;
    }
    int st = 0;
    switch (how) {
      case Death::Term:
        st = d.stop(SIGTERM);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
          ++crashes;
          ADD_FAILURE() << "restart " << k << ": SIGTERM gave " << describe_status(st) << "\n" << d.log();
        }
        break;
      case Death::KillReady:
        d.stop(SIGKILL);
        break;
      case Death::FailpointChange:
        toggle_revoked = !toggle_revoked;
        keyset();  // the daemon applies it, and dies inside the slot write
        [[fallthrough]];
      case Death::KillEarly:
      case Death::FailpointLoad:
        ASSERT_TRUE(d.wait_exit(20000ms)) << "restart " << k << ": edgekeyd did not die; log:\n" << d.log();
        st = d.exit_status();
        if (!(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)) {
          ++crashes;
          ADD_FAILURE() << "restart " << k << ": edgekeyd " << describe_status(st) << "\n" << d.log();
        }
        break;
    }
    by[int(how)] += 1;
    d.drain_notify();
    // The table the dead daemon left, read with no writer: a half-written
    // record answers 503 (only the key being changed), everything else is right.
    Sweep left = sweep(v, tokens, std::nullopt);
    left_bad += left.bad;
    if (how == Death::FailpointChange) {
      if (!left.toggle_busy) ++torn_mismatch;  // (a key probing past its slot may answer 503 too)
      ++torn_events;
      torn_left = true;
    } else if (how == Death::KillEarly && torn_left) {
      torn_left = left.busy > 0;  // killed before or after its load replaced the table
    } else if ((left.busy > 0) != torn_left) {
      ++torn_mismatch;
    }
  }

  // A last start repairs what the last death left.
  d.start_ready();
  Sweep last = sweep(v, tokens, toggle_revoked);
  EXPECT_EQ(last.bad, 0);
  EXPECT_EQ(d.stop(SIGTERM), 0);
  const uint64_t during = rc->validations.load() - validations_before;
  const int stuck = readers.stop();
  ek_close(v);
  const double secs = double(now_ns() - t0) / 1e9;
  const size_t logged_torn = count_of(d.log(), "half-written records found");

  printf("restarts %llu in %.1f s: SIGTERM %llu, SIGKILL ready %llu, SIGKILL early %llu, failpoint mid-change %llu, "
         "failpoint mid-load %llu; half-written records left %llu, repaired by a restart %llu (logged %zu)\n",
         (unsigned long long)(by[0] + by[1] + by[2] + by[3] + by[4]), secs, (unsigned long long)by[0],
         (unsigned long long)by[1], (unsigned long long)by[2], (unsigned long long)by[3], (unsigned long long)by[4],
         (unsigned long long)torn_events, (unsigned long long)repaired, logged_torn);
  check_readers(*rc, during);

  EXPECT_EQ(by[0] + by[1] + by[2] + by[3] + by[4], restarts);
  EXPECT_EQ(crashes, 0u) << "edgekeyd died otherwise than by our signal";
  EXPECT_EQ(stuck, 0) << "a reader never returned from ek_validate";
  EXPECT_EQ(left_bad, 0u);
  EXPECT_EQ(torn_mismatch, 0u) << "a 503 without a half-written record, or none with one";
  EXPECT_EQ(repair_failures, 0u);
  EXPECT_EQ(revision_failures, 0u);
  EXPECT_GE(logged_torn, ready_after_torn) << "a restart over a half-written record did not say so";
  EXPECT_GT(during, restarts) << "readers should validate throughout the restarts";
  if (restarts >= 50) {
    EXPECT_GT(torn_events, 0u);
    EXPECT_GT(by[0], 0u);
    EXPECT_GT(by[1] + by[2], 0u);
  }
}
