// Upstream faults (issue #5): the real edgekeyd follows its region's real
// nats-server through NatsProxy (tests/support/nats_proxy.hpp), which
// duplicates, drops or blackholes what the server sends. Whatever the fault,
// a revocation the origin holds is never lost, every change is applied
// exactly once, and the staleness policy holds while the region is cut off.
//
// A regional server SIGKILLed while revocations are written at the origin is
// tests/daemon/nats_test.cpp's RegionalServerKilledMidStreamLosesNothing.
#include "daemon_fixture.hpp"
#include "nats_origin.hpp"
#include "nats_proxy.hpp"
#include "nats_servers.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <edgekey/validator.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>

namespace edgekey::test {
namespace {

// Every key the test wrote: its token, and how the origin last left it.
enum class State { Live, Revoked, Removed };
struct Tracked {
  MintedKey key;
  State state = State::Live;
};
using Keys = std::map<std::string, Tracked>;

const char *expected_code(State s) {
  return s == State::Live ? "ok" : s == State::Revoked ? "revoked_key" : "unknown_key";
}

// The tracked keys whose library answer differs from their state ("" = none).
std::string table_mismatches(const std::string &table, const Keys &keys) {
  auto v = Validator::open(table.c_str());
  if (!v) return std::string("cannot open the table: ") + Validator::error_text(v.error());
  std::string out;
  for (const auto &[id, t] : keys) {
    const std::string got = v.validate(t.key.token).code_name();
    if (got != expected_code(t.state)) out += id + ": " + got + " (want " + expected_code(t.state) + ")\n";
  }
  return out;
}

uint64_t revision_of(DaemonProcess &d) {
  auto s = status_of(d);
  return s["upstream"]["revision"].is_number() ? s["upstream"]["revision"].get<uint64_t>() : 0;
}

// The daemon's table against the origin, key by key: the same records
// (status and name) through /v1/keys/{id}, absent where the origin has none,
// and each token answered by the library as its state says.
void expect_equal_to_origin(DaemonProcess &d, Origin &origin, const Keys &keys) {
  for (const auto &[id, t] : keys) {
    const auto want = origin.get(id);
    ASSERT_EQ(want.has_value(), t.state != State::Removed) << id << ": the test's model disagrees with the origin";
    auto r = d.get("/v1/keys/" + id);
    if (!want) {
      EXPECT_EQ(r.status, 404) << id << " is removed at the origin: " << r.body;
      continue;
    }
    ASSERT_EQ(r.status, 200) << id << ": " << r.body;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_EQ(j["status"], sync::key_status_name(want->status)) << id;
    EXPECT_EQ(j["name"], want->name) << id;
  }
  EXPECT_EQ(table_mismatches(d.table, keys), "");
}

// `upstream:` for edgekeyd reaching region `domain` at `url` (the proxy).
std::string upstream_via(const std::string &url, const std::string &domain) {
  return "upstream:\n  nats:\n    servers: [" + url + "]\n    origin_domain: eu\n    domain: " + domain +
         "\n    bucket: keys\n    reconnect_wait: 100ms\n    heartbeat: 500ms\n    request_timeout: 2s\n";
}

struct Faults {
  NatsTopology topo;
  std::unique_ptr<Origin> origin;
  Keys keys;

  bool start() {
    origin = start_with_origin(topo);
    return origin != nullptr;
  }
  std::unique_ptr<NatsProxy> proxy(uint64_t seed = 0x5eedf00d) {
    return std::make_unique<NatsProxy>(port_of(topo.region(0).url()), seed);
  }
  std::unique_ptr<DaemonProcess> daemon(const NatsProxy &p, const std::string &extra = "") {
    return std::make_unique<DaemonProcess>(extra, upstream_via(p.url(), topo.region(0).domain()));
  }
  static int port_of(const std::string &url) { return std::stoi(url.substr(url.rfind(':') + 1)); }
  // Waits until the region's mirror holds stream sequence `seq` (asked of
  // its server directly, not through a proxy).
  bool region_holds(uint64_t seq) {
    sync::NatsClient c(topo.options(topo.region(0)), "test-region");
    return eventually([&] { return sync::region_stream_state(c, topo.options(topo.region(0))).last_seq >= seq; },
                      10000ms);
  }

  uint64_t create(const std::string &id) {
    Tracked t{mint_key(id), State::Live};
    t.key.record.name = "v0";
    const uint64_t seq = origin->put(t.key.record);
    keys[id] = std::move(t);
    return seq;
  }
  uint64_t update(const std::string &id, int version) {
    auto &t = keys.at(id);
    t.key.record.name = "v" + std::to_string(version);
    return origin->put(t.key.record);
  }
  uint64_t revoke(const std::string &id) {
    auto &t = keys.at(id);
    t.state = State::Revoked;
    t.key.record.status = sync::KeyStatus::Revoked;
    t.key.record.revoked_at = now_ms() / 1000;
    return origin->put(t.key.record);
  }
  void remove(const std::string &id) {
    keys.at(id).state = State::Removed;
    origin->remove(id);
  }
};

// Waits until the daemon applied up to `seq` and its table answers as the
// origin left every key.
bool converges(DaemonProcess &d, const Keys &keys, uint64_t seq, std::chrono::milliseconds limit) {
  return eventually([&] { return revision_of(d) >= seq && table_mismatches(d.table, keys).empty(); }, limit);
}

// Writes go in rounds that touch each key at most once, the next round
// starting when the daemon applied the last: a region's mirror (history 1)
// keeps only the last message per key, so a key written twice before the
// mirror copied the first write skips that sequence for good. Rounds make
// every write a message the daemon must apply, and so countable.
TEST(UpstreamFaults, EveryFrameDeliveredTwiceIsAppliedOnce) {
  Faults f;
  ASSERT_TRUE(f.start());
  // Before the daemon starts: its cold snapshot streams in duplicated too.
  for (int i = 0; i < 30; ++i) f.create("key_pre" + std::to_string(i));
  for (int i = 0; i < 3; ++i) f.revoke("key_pre" + std::to_string(i));
  for (int i = 3; i < 5; ++i) f.remove("key_pre" + std::to_string(i));
  const uint64_t snapshot_messages = 30;  // one per key, 2 of them delete markers

  auto proxy = f.proxy();
  proxy->set_duplicate(true);
  auto d = f.daemon(*proxy);
  d->start_ready();
  const uint64_t at_ready = status_of(*d)["nats"]["messages_applied"];
  EXPECT_EQ(at_ready, snapshot_messages) << d->log();

  uint64_t live_writes = 0, last = 0;
  for (int i = 0; i < 60; ++i, ++live_writes) last = f.create("key_live" + std::to_string(i));
  ASSERT_TRUE(converges(*d, f.keys, last, 15000ms)) << table_mismatches(d->table, f.keys) << d->log();
  for (int i = 0; i < 60; i += 4, ++live_writes) last = f.revoke("key_live" + std::to_string(i));
  for (int i = 1; i < 60; i += 6, ++live_writes) f.remove("key_live" + std::to_string(i));
  for (int i = 5; i < 30; i += 5, ++live_writes) last = f.revoke("key_pre" + std::to_string(i));
  for (int i = 2; i < 60; i += 4, ++live_writes) last = f.update("key_live" + std::to_string(i), 1);
  ASSERT_TRUE(converges(*d, f.keys, last, 15000ms)) << table_mismatches(d->table, f.keys) << d->log();

  const auto c = proxy->counters();
  EXPECT_GE(c.js_duplicated, live_writes) << "the fault did not happen";
  std::cout << "[ faults   ] duplicated " << c.js_duplicated << " JetStream deliveries; " << c.consumer_creates
            << " consumers created\n";
  expect_equal_to_origin(*d, *f.origin, f.keys);
  for (const auto &[id, t] : f.keys) {
    if (t.state == State::Revoked) {
      EXPECT_EQ(d->validate(t.key.token).header("X-Edgekey-Code"), "revoked_key") << id;
    }
  }
  // Each stream message reached the table once: a duplicate is never applied.
  auto st = status_of(*d)["nats"];
  EXPECT_EQ(st["messages_applied"], at_ready + live_writes) << st.dump() << d->log();
  EXPECT_EQ(st["snapshots_loaded"], 1) << st.dump();
  EXPECT_EQ(st["records_rejected"], 0) << st.dump();
}

TEST(UpstreamFaults, OnePercentDroppedDeliveriesAreRecovered) {
  Faults f;
  ASSERT_TRUE(f.start());
  std::mt19937_64 rng(20240605);
  std::vector<std::string> ids;
  int next_id = 0;
  auto fresh = [&] {
    ids.push_back("key_d" + std::to_string(next_id++));
    return ids.back();
  };
  for (int i = 0; i < 200; ++i) f.create(fresh());
  const uint64_t snapshot_messages = 200;

  auto proxy = f.proxy();
  proxy->set_drop_per_mille(10);  // from the cold snapshot on
  auto d = f.daemon(*proxy);
  d->start_ready();
  const uint64_t at_ready = status_of(*d)["nats"]["messages_applied"];
  EXPECT_EQ(at_ready, snapshot_messages) << d->log();

  // 1,800 writes over at most 450 keys, in rounds (see above): updates,
  // revocations (also of revoked keys again), removals and creations, in a
  // fixed pseudo-random order; each round ends with a put (its sequence is
  // the round's last).
  uint64_t live_writes = 0, last = 0;
  int version = 1, rounds = 0;
  while (live_writes < 1800 && rounds++ < 20) {
    std::vector<std::string> round = ids;
    std::shuffle(round.begin(), round.end(), rng);
    size_t n = 0;
    for (const auto &id : round) {
      const State s = f.keys.at(id).state;
      if (s == State::Removed) continue;
      if (n++ == 200) break;
      const auto roll = rng() % 100;
      if (s == State::Live && roll < 60) last = f.update(id, version++);
      else if (roll < 90) last = f.revoke(id);
      else f.remove(id);
      ++live_writes;
    }
    for (int i = 0; i < 30 && ids.size() < 450; ++i, ++live_writes) last = f.create(fresh());
    last = f.create(fresh());
    ++live_writes;
    ASSERT_TRUE(converges(*d, f.keys, last, 15000ms))
        << "round " << rounds << ":\n" << table_mismatches(d->table, f.keys) << d->log();
  }
  const auto c = proxy->counters();
  EXPECT_GT(c.dropped, 0u) << "the fault did not happen (" << c.js_deliveries << " deliveries)";
  expect_equal_to_origin(*d, *f.origin, f.keys);
  // Each dropped message was delivered again (a gap resets the ordered
  // consumer at the next sequence) and applied once: none lost, none twice.
  auto st = status_of(*d)["nats"];
  EXPECT_TRUE(c.consumer_creates > 1 || st["snapshots_loaded"].get<int>() > 1)
      << "no consumer reset nor resync after " << c.dropped << " drops";
  EXPECT_EQ(st["messages_applied"], at_ready + live_writes)
      << st.dump() << "\ndropped " << c.dropped << " of " << c.js_deliveries << " deliveries\n" << d->log();
  EXPECT_EQ(st["records_rejected"], 0) << st.dump();
  std::cout << "[ faults   ] dropped " << c.dropped << " of " << c.js_deliveries << " JetStream deliveries; "
            << f.keys.size() << " keys, " << snapshot_messages + live_writes << " writes in " << rounds
            << " rounds; " << c.consumer_creates << " consumers created\n";
}

// One region cut off from its daemons for longer than max_staleness (2 s):
// a fail_closed daemon and a serve_stale one, each behind its own proxy.
struct Partitioned {
  Faults f;
  std::unique_ptr<NatsProxy> pc, ps;
  std::unique_ptr<DaemonProcess> closed, stale;
  bool start() {
    if (!f.start()) return false;
    f.create("key_good");
    f.create("key_victim");
    pc = f.proxy();
    ps = f.proxy();
    closed = f.daemon(*pc, "staleness:\n  max: 2s\n  policy: fail_closed\n");
    stale = f.daemon(*ps, "staleness:\n  max: 2s\n  policy: serve_stale\n");
    closed->start_ready();
    stale->start_ready();
    return !::testing::Test::HasFatalFailure();
  }
  void cut(bool on) {
    pc->set_blackhole(on);
    ps->set_blackhole(on);
  }
  const std::string &token(const std::string &id) { return f.keys.at(id).key.token; }
  std::string lib_code(DaemonProcess &d, const std::string &id) {
    d.drain_notify();  // see status_of
    auto v = Validator::open(d.table.c_str());
    return v ? v.validate(token(id)).code_name() : "(no table)";
  }
  std::string socket_code(DaemonProcess &d, const std::string &id) {
    return d.validate(token(id)).header("X-Edgekey-Code").value_or("(no answer)");
  }
  static int64_t contact_age(DaemonProcess &d) {
    auto a = status_of(d)["upstream"]["last_contact_age_seconds"];
    return a.is_number() ? a.get<int64_t>() : -1;
  }

  // During the cut: fail_closed refuses with 503 keyset_stale, serve_stale
  // keeps answering from its (now stale) table.
  void expect_policies_enforced() {
    EXPECT_TRUE(eventually([&] { return lib_code(*closed, "key_good") == "keyset_stale"; }, 10000ms))
        << closed->log();
    auto r = closed->validate(token("key_good"));
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.header("X-Edgekey-Code"), "keyset_stale");
    EXPECT_TRUE(eventually([&] { return contact_age(*stale) > 2; }, 10000ms)) << status_of(*stale).dump();
    EXPECT_EQ(lib_code(*stale, "key_good"), "ok");
    EXPECT_EQ(stale->validate(token("key_good")).status, 200);
  }

  // After healing: the revocation written during the cut is refused by both,
  // staleness clears and the good key is served again.
  void expect_healed(std::chrono::milliseconds limit) {
    const auto healed = std::chrono::steady_clock::now();
    for (DaemonProcess *d : {closed.get(), stale.get()}) {
      EXPECT_TRUE(eventually([&] { return lib_code(*d, "key_victim") == "revoked_key"; }, limit)) << d->log();
      EXPECT_EQ(socket_code(*d, "key_victim"), "revoked_key");
      EXPECT_TRUE(eventually([&] { return lib_code(*d, "key_good") == "ok"; }, limit)) << d->log();
      EXPECT_TRUE(eventually([&] { return lib_code(*d, "key_late") == "ok"; }, limit)) << d->log();
      EXPECT_LE(contact_age(*d), 2);
    }
    const auto took = std::chrono::steady_clock::now() - healed;
    std::cout << "[ faults   ] revocation refused by both daemons "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms after healing\n";
  }
};

TEST(UpstreamFaults, PartitionLongerThanMaxStaleness) {
  Partitioned p;
  ASSERT_TRUE(p.start());
  p.cut(true);
  p.expect_policies_enforced();
  // The origin takes a revocation and a new key, and the region's mirror
  // has them; its cut-off daemons cannot know (serve_stale still accepts
  // the victim).
  p.f.revoke("key_victim");
  ASSERT_TRUE(p.f.region_holds(p.f.create("key_late")));
  EXPECT_EQ(p.lib_code(*p.stale, "key_victim"), "ok");
  EXPECT_EQ(p.lib_code(*p.closed, "key_victim"), "keyset_stale");
  p.cut(false);
  p.expect_healed(10000ms);
  EXPECT_EQ(status_of(*p.closed)["nats"]["messages_applied"], 4) << p.closed->log();
  EXPECT_EQ(status_of(*p.stale)["nats"]["messages_applied"], 4) << p.stale->log();
}

TEST(UpstreamFaults, PartitionPastThePingTimeoutReconnects) {
  Partitioned p;
  ASSERT_TRUE(p.start());
  p.cut(true);
  p.f.revoke("key_victim");
  ASSERT_TRUE(p.f.region_holds(p.f.create("key_late")));
  p.expect_policies_enforced();
  // The client gives the silent connection up (5 unanswered pings) and
  // keeps trying to reconnect into the partition.
  for (DaemonProcess *d : {p.closed.get(), p.stale.get()})
    EXPECT_TRUE(eventually([&] { return status_of(*d)["nats"]["connected"] == false; }, 20000ms)) << d->log();
  EXPECT_EQ(p.lib_code(*p.stale, "key_victim"), "ok");  // still cut off
  p.cut(false);
  p.expect_healed(15000ms);
  for (DaemonProcess *d : {p.closed.get(), p.stale.get()}) {
    auto st = status_of(*d)["nats"];
    EXPECT_EQ(st["connected"], true) << st.dump();
    EXPECT_GE(st["reconnects"].get<int>(), 1) << st.dump();
    EXPECT_EQ(st["messages_applied"], 4) << st.dump() << d->log();
  }
}

// SIGTERM while the region is unreachable: edgekeyd stops within a few
// seconds (each of its worker's NATS calls is bounded by request_timeout,
// 2 s), not after a 30 s wait for the ephemeral consumer's DELETE request.
TEST(UpstreamFaults, StopDuringPartitionIsPrompt) {
  Faults f;
  ASSERT_TRUE(f.start());
  f.create("key_good");
  auto p = f.proxy();
  auto d = f.daemon(*p);
  d->start_ready();
  p->set_blackhole(true);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(d->pid, SIGTERM), 0);
  const bool exited = d->wait_exit(5000ms);
  EXPECT_TRUE(exited) << "edgekeyd still stopping "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
                             .count()
                      << " ms after SIGTERM with its region unreachable; log:\n"
                      << d->log();
  if (!exited) d->stop(SIGKILL);
  else
    EXPECT_TRUE(WIFEXITED(d->exit_status()) && WEXITSTATUS(d->exit_status()) == 0)
        << "edgekeyd's wait status " << d->exit_status() << "; log:\n"
        << d->log();
}

}  // namespace
}  // namespace edgekey::test
