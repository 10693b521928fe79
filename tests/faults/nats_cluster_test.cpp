// A region's NATS cluster loses a node (issue #17): the region runs three
// real nats-servers as one JetStream cluster (its own domain, each node a
// leafnode of the origin hub), the mirror replicated on all three (R3), and
// edgekeyd lists the three. While the origin writes a steady stream of
// revocations:
// - the server edgekeyd is connected to, which also leads the mirror (the
//   worst case: a leader election too), is SIGKILLed: edgekeyd moves to
//   another node within its reconnect settings, no revocation is lost, its
//   last contact resumes within the election and keeps advancing, and a
//   staleness.max above an election's few seconds (20 s) never refuses a
//   key; the server comes back;
// - with staleness.max 3 s (SIGHUP), two servers die and the one edgekeyd
//   is on survives (the mirror loses its quorum, that server still answers
//   PINGs and stream info): fail_closed refuses with 503 keyset_stale, and
//   everything recovers, every revocation applied exactly once, when the
//   quorum returns.
// The failover and recovery times are printed ("[ cluster  ]" lines).
#include "daemon_fixture.hpp"
#include "nats_origin.hpp"
#include "nats_servers.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <edgekey/validator.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

namespace edgekey::test {
namespace {

using Clock = std::chrono::steady_clock;

int64_t ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// Polls a costly `cond` (HTTP requests to several processes) every 25 ms
// until it holds or `limit` passes.
bool poll_until(const std::function<bool()> &cond, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (cond()) return true;
    struct timespec ts = {0, 25'000'000};  // poll interval of the condition
    nanosleep(&ts, nullptr);
  }
  return cond();
}

int64_t contact_age(const nlohmann::json &s) {
  auto a = s["upstream"]["last_contact_age_seconds"];
  return a.is_number() ? a.get<int64_t>() : -1;
}

// The origin revokes one key of `keys` every `every`, from a thread of its
// own, until stopped or out of keys. Each key is written once more only (its
// revocation), so every write stays in the region's mirror (history 1) and
// is a message edgekeyd must apply exactly once.
class RevocationStream {
 public:
  static constexpr size_t kLive = 10;  // the last keys are never revoked

  RevocationStream(Origin &origin, std::vector<MintedKey> &keys, std::chrono::milliseconds every)
      : origin_(origin), keys_(keys), every_(every), thread_([this] { run(); }) {}
  ~RevocationStream() { stop(); }

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Keys [0, revoked()) are revoked at the origin (their put returned).
  size_t revoked() const { return done_.load(); }
  // Waits until the origin has revoked at least one more key than now;
  // returns its index (the first revocation written after this call).
  size_t next_revocation(std::chrono::milliseconds limit = 10000ms) {
    const size_t now = done_.load();
    eventually([&] { return done_.load() > now; }, limit);
    return now;
  }

 private:
  void run() {
    for (size_t i = 0; i + kLive < keys_.size() && !stop_; ++i) {
      origin_.revoke(keys_[i].record);
      done_ = i + 1;
      struct timespec ts = {0, long(every_.count()) * 1'000'000};  // the stream's pace, not a synchronisation
      nanosleep(&ts, nullptr);
    }
  }

  Origin &origin_;
  std::vector<MintedKey> &keys_;
  std::chrono::milliseconds every_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> done_{0};
  std::thread thread_;
};

// What a recovery looked like: each change of the sampled state, and each
// event, with its time since `start`.
class Timeline {
 public:
  explicit Timeline(Clock::time_point start) : start_(start) {}
  void state(const std::string &s) {
    if (s == last_) return;
    last_ = s;
    add(s);
  }
  void event(const std::string &e) { add("-- " + e); }
  const std::string &text() const { return text_; }

 private:
  void add(const std::string &line) {
    text_ += "  +" + std::to_string(ms_between(start_, Clock::now())) + " ms  " + line + "\n";
  }
  Clock::time_point start_;
  std::string last_, text_;
};

struct ClusterRegion {
  NatsTopology topo{{"in"}, 3};
  std::unique_ptr<Origin> origin;
  std::vector<MintedKey> keys;  // [0, stream.revoked()) revoked, the rest live

  bool start(size_t n_keys) {
    origin = start_with_origin(topo);
    if (!origin) return false;
    for (size_t i = 0; i < n_keys; ++i) {
      keys.push_back(mint_key("key_c" + std::to_string(i)));
      origin->put(keys.back().record);
    }
    return !::testing::Test::HasFailure();
  }
  NatsServer &node(size_t k) { return topo.node(0, k); }

  // The node leading the mirror (-1: none, or no node answers).
  int leader_node() {
    for (size_t k = 0; k < topo.nodes(); ++k) {
      if (!node(k).running()) continue;
      auto m = topo.mirror_cluster(node(k));
      if (!m || m->leader.empty()) continue;
      for (size_t l = 0; l < topo.nodes(); ++l)
        if (node(l).name() == m->leader) return int(l);
    }
    return -1;
  }

  // The node whose connz lists edgekeyd (-1: none).
  int connected_node() {
    for (size_t k = 0; k < topo.nodes(); ++k) {
      if (!node(k).running()) continue;
      for (const auto &n : node(k).client_names())
        if (n == "edgekeyd") return int(k);
    }
    return -1;
  }

  // The library's answers that differ from the origin's: keys [0, revoked)
  // must be refused as revoked, the others accepted ("" = none).
  std::string mismatches(const std::string &table, size_t revoked) {
    auto v = Validator::open(table.c_str());
    if (!v) return std::string("cannot open the table: ") + Validator::error_text(v.error());
    std::string out;
    for (size_t i = 0; i < keys.size(); ++i) {
      const std::string want = i < revoked ? "revoked_key" : "ok";
      const std::string got = v.validate(keys[i].token).code_name();
      if (got != want) out += keys[i].record.id + ": " + got + " (want " + want + ")\n";
    }
    return out;
  }
  std::string code(const std::string &table, size_t i) {
    auto v = Validator::open(table.c_str());
    return v ? v.validate(keys[i].token).code_name() : "(no table)";
  }

  // Restarts node k and waits until the cluster is whole again: the node
  // healthy and the mirror led with both followers current.
  void restore(size_t k, std::chrono::milliseconds limit) {
    std::string why;
    ASSERT_TRUE(node(k).start(&why)) << why;
    ASSERT_TRUE(eventually([&] { return node(k).monitor("/healthz").has_value(); }, limit))
        << node(k).name() << " not healthy again; log:\n" << node(k).log();
  }
  bool mirror_whole(std::chrono::milliseconds limit) {
    return poll_until([&] {
      for (size_t k = 0; k < topo.nodes(); ++k) {
        if (!node(k).running()) return false;
        auto m = topo.mirror_cluster(node(k));
        if (!m || m->leader.empty() || m->current_followers != int(topo.nodes()) - 1) return false;
      }
      return true;
    }, limit);
  }
};

TEST(NatsCluster, RegionLosesANodeThenItsQuorum) {
  const auto test_started = Clock::now();
  ClusterRegion r;
  ASSERT_TRUE(r.start(800));
  const auto cluster_up = Clock::now();

  // The worst case: edgekeyd's server (the first it lists) leads the mirror
  // and holds its consumer, so its death also takes a leader election.
  // fail_closed with staleness.max 20 s, above an election's few seconds.
  const int first = r.leader_node();
  ASSERT_GE(first, 0) << "the mirror has no leader";
  std::vector<size_t> order = {size_t(first)};
  for (size_t k = 0; k < r.topo.nodes(); ++k)
    if (int(k) != first) order.push_back(k);
  DaemonProcess d("staleness:\n  max: 20s\n  policy: fail_closed\n", r.topo.region_upstream_yaml(0, order));
  d.start_ready();
  ASSERT_EQ(r.connected_node(), first) << "edgekeyd is not on the first server it lists";
  RevocationStream stream(*r.origin, r.keys, 100ms);  // 10 revocations/s

  // ---- the server edgekeyd is connected to dies -------------------------------
  ASSERT_TRUE(eventually([&] { return r.code(d.table, stream.next_revocation()) == "revoked_key"; }, 10000ms))
      << "revocations do not arrive before the fault; log:\n" << d.log();
  const std::string contact_before = status_of(d)["upstream"]["last_contact"].dump();
  const auto killed = Clock::now();
  r.node(size_t(first)).kill_hard();
  const size_t after_kill = stream.next_revocation();  // written while the node is dead

  // Polled until a revocation written after the kill is refused: where
  // edgekeyd is connected, its contact age, any stale answer meanwhile.
  int64_t moved_ms = -1, revoked_ms = -1, max_age = 0;
  int now_on = -1;
  std::string stale_seen;
  const bool resumed = poll_until([&] {
    auto st = status_of(d);
    max_age = std::max(max_age, contact_age(st));
    if (moved_ms < 0 && (now_on = r.connected_node()) >= 0) moved_ms = ms_between(killed, Clock::now());
    const std::string c = r.code(d.table, r.keys.size() - 1);  // a key the stream never reaches
    if (c != "ok" && stale_seen.empty()) stale_seen = c;
    if (r.code(d.table, after_kill) != "revoked_key") return false;
    revoked_ms = ms_between(killed, Clock::now());
    return moved_ms >= 0;
  }, 30000ms);
  ASSERT_TRUE(resumed) << "30 s after the kill: edgekeyd on node " << r.connected_node()
                       << ", revocation " << after_kill << " answers " << r.code(d.table, after_kill)
                       << "; log:\n" << d.log();
  EXPECT_NE(now_on, first);
  EXPECT_EQ(stale_seen, "") << "a live key was refused during the failover (contact age up to " << max_age << " s)";
  // Within its reconnect settings: reconnect_wait 100 ms, each attempt
  // bounded by request_timeout (2 s); the slack is for a loaded machine.
  EXPECT_LE(moved_ms, 6000) << d.log();
  auto st = status_of(d);
  EXPECT_EQ(st["nats"]["connected"], true) << st.dump();
  EXPECT_GE(st["nats"]["reconnects"].get<int>(), 1) << st.dump();
  // Contact advances on the new server, and keeps advancing.
  ASSERT_TRUE(eventually([&] { return contact_age(status_of(d)) <= 1; }, 10000ms)) << status_of(d).dump();
  EXPECT_TRUE(eventually([&] { return status_of(d)["upstream"]["last_contact"].dump() != contact_before; }, 5000ms));
  const std::string contact_after = status_of(d)["upstream"]["last_contact"].dump();
  EXPECT_TRUE(eventually([&] { return status_of(d)["upstream"]["last_contact"].dump() != contact_after; }, 5000ms))
      << "contact does not advance after the failover: " << status_of(d).dump();
  std::cout << "[ cluster  ] node " << first << " (edgekeyd's) killed: edgekeyd on node " << now_on << " after "
            << moved_ms << " ms; revocations refused again after " << revoked_ms
            << " ms; longest contact age meanwhile " << max_age << " s"
            << (stale_seen.empty() ? "" : "; a live key answered " + stale_seen + " meanwhile") << "\n";

  r.restore(size_t(first), 30000ms);
  if (::testing::Test::HasFatalFailure()) return;
  ASSERT_TRUE(r.mirror_whole(30000ms)) << "the mirror is not whole again after node " << first << " returned";

  // ---- two servers die: the mirror loses its quorum --------------------------
  // staleness.max 3 s now (SIGHUP), to see the policy enforced soon.
  d.write_config("staleness:\n  max: 3s\n  policy: fail_closed\n");
  ASSERT_EQ(::kill(d.pid, SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return status_of(d)["staleness"]["max_seconds"] == 3; }, 10000ms))
      << "the reload did not take; log:\n" << d.log();
  const int on = r.connected_node();
  ASSERT_GE(on, 0);
  const auto quorum_lost = Clock::now();
  for (size_t k = 0; k < r.topo.nodes(); ++k)
    if (int(k) != on) r.node(k).kill_hard();
  // edgekeyd's server still answers, but the region can no longer take the
  // origin's revocations: the policy must refuse past staleness.max.
  const size_t live = r.keys.size() - 1;
  EXPECT_TRUE(eventually([&] { return r.code(d.table, live) == "keyset_stale"; }, 30000ms))
      << "still " << r.code(d.table, live) << " " << ms_between(quorum_lost, Clock::now())
      << " ms after the quorum was lost; status " << status_of(d).dump() << "\nlog:\n" << d.log();
  const int64_t stale_ms = ms_between(quorum_lost, Clock::now());
  auto refused = d.validate(r.keys[live].token);
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.header("X-Edgekey-Code"), "keyset_stale");
  EXPECT_EQ(r.connected_node(), on) << "edgekeyd left the surviving server";

  // ---- the quorum returns ---------------------------------------------------------
  // The region's own recovery (its servers restarted, the mirror led again
  // with both followers current) is NATS's and is waited for on its own;
  // edgekeyd's (a revocation refused again, the live key served) is timed
  // from there. The timeline shows both, sampled as they happen.
  const auto returning = Clock::now();
  Timeline timeline(returning);
  for (size_t k = 0; k < r.topo.nodes(); ++k) {
    if (int(k) == on) continue;
    r.restore(k, 30000ms);
    if (::testing::Test::HasFatalFailure()) return;
    timeline.event(r.node(k).name() + " healthy again");
  }
  const size_t late = stream.next_revocation();  // written with the quorum back
  const auto sample = [&] {
    auto m = r.topo.mirror_cluster(r.node(size_t(on)));
    timeline.state((m ? "mirror leader \"" + m->leader + "\", " + std::to_string(m->current_followers) +
                            " current followers"
                      : std::string("mirror: no answer")) +
                   "; edgekeyd: contact age " + std::to_string(contact_age(status_of(d))) + " s, revocation " +
                   r.code(d.table, late) + ", live key " + r.code(d.table, live));
  };
  const bool whole = poll_until([&] {
    sample();
    return r.mirror_whole(0ms);
  }, 60000ms);
  const int64_t whole_ms = ms_between(returning, Clock::now());
  ASSERT_TRUE(whole) << "the region's mirror is not whole 60 s after its servers returned:\n"
                     << timeline.text() << "log:\n" << d.log();
  timeline.event("mirror whole");
  const auto whole_at = Clock::now();
  const bool recovered = poll_until([&] {
    sample();
    return r.code(d.table, late) == "revoked_key" && r.code(d.table, live) == "ok";
  }, 30000ms);
  const int64_t recovered_ms = ms_between(whole_at, Clock::now());
  EXPECT_TRUE(recovered) << "30 s after the mirror was whole again: revocation " << late << " answers "
                         << r.code(d.table, late) << ", the live key " << r.code(d.table, live) << "\n"
                         << timeline.text() << "status " << status_of(d).dump() << "\nlog:\n" << d.log();
  stream.stop();
  const size_t revoked = stream.revoked();
  EXPECT_TRUE(eventually([&] { return r.mismatches(d.table, revoked).empty(); }, 20000ms))
      << r.mismatches(d.table, revoked) << d.log();
  EXPECT_EQ(d.validate(r.keys[live].token).status, 200);
  EXPECT_EQ(d.validate(r.keys[0].token).header("X-Edgekey-Code"), "revoked_key");
  // Every write applied once: the snapshot's keys, then each revocation;
  // none lost, none twice, no resnapshot.
  st = status_of(d);
  EXPECT_EQ(st["nats"]["messages_applied"], r.keys.size() + revoked) << st.dump() << d.log();
  EXPECT_EQ(st["nats"]["snapshots_loaded"], 1) << st.dump();
  EXPECT_LE(contact_age(st), 1) << st.dump();
  std::cout << "[ cluster  ] quorum lost: 503 keyset_stale after " << stale_ms << " ms (staleness.max 3 s); "
            << "quorum back: the mirror whole again after " << whole_ms
            << " ms, then revocations refused and the live key served again after " << recovered_ms << " ms; "
            << revoked << " revocations, each applied once; cluster up in " << ms_between(test_started, cluster_up)
            << " ms\n[ cluster  ] the quorum's return:\n" << timeline.text();
}

}  // namespace
}  // namespace edgekey::test

namespace edgekey::test {
namespace {

// edgekeyctl nats init-region --replicas: a rerun without a count keeps the
// mirror's, another count scales it (here down to 1 and back up to 3).
TEST(NatsCluster, InitRegionScalesTheMirror) {
  NatsTopology topo({"in"}, 3);
  std::string why;
  ASSERT_TRUE(topo.start(&why)) << why;  // created with 3 replicas
  sync::NatsClient c(topo.region_options(0), "test-init");
  const auto followers = [&] {
    auto m = topo.mirror_cluster(topo.region(0));
    return m && !m->leader.empty() ? m->current_followers : -1;
  };
  EXPECT_EQ(followers(), 2);
  EXPECT_EQ(sync::init_region(c, topo.region_options(0)), "exists");
  EXPECT_EQ(sync::init_region(c, topo.region_options(0), 3), "exists");
  EXPECT_EQ(sync::init_region(c, topo.region_options(0), 1), "updated");
  EXPECT_TRUE(eventually([&] { return followers() == 0; }, 20000ms)) << followers();
  EXPECT_EQ(sync::init_region(c, topo.region_options(0)), "exists");  // stays at 1
  EXPECT_EQ(followers(), 0);
  EXPECT_EQ(sync::init_region(c, topo.region_options(0), 3), "updated");
  EXPECT_TRUE(eventually([&] { return followers() == 2; }, 30000ms)) << followers();
}

}  // namespace
}  // namespace edgekey::test
