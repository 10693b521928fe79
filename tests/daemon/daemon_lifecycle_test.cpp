// edgekeyd end to end, its life: --check-config and the command line, readiness
// after the first complete load, snapshots after each change burst and at a
// start without upstream, and the systemd watchdog.
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"

#include <edgekey/validator.hpp>
#include <nlohmann/json.hpp>

#include "sync/upstream/snapshot.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

using namespace edgekey;
using namespace edgekey::test;

TEST(Daemon, CheckConfigValidatesPrintsASummaryAndStartsNothing) {
  DaemonProcess d("limits:\n  max_connections: 7\n");
  Ran ok = run_process({EDGEKEYD_PATH, "--config", d.config, "--check-config"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(ok.err, "");
  EXPECT_EQ(ok.out.rfind("config " + d.config + "\n", 0), 0u) << ok.out;
  EXPECT_NE(ok.out.find("region in-mum,"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("table " + d.table + ": capacity 1024"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("socket " + d.socket + ", mode 0660"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("upstream file " + d.keyset), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("limits 7 connections"), std::string::npos) << ok.out;
  struct stat st {};
  EXPECT_NE(stat(d.socket.c_str(), &st), 0) << "--check-config opened the socket";
  EXPECT_NE(stat(("/dev/shm/" + d.table).c_str(), &st), 0) << "--check-config created the table";

  d.write_config("staleness:\n  max: 60s\n  policy: fail_open\n");
  const int line = line_number(read_text(d.config), "  policy: fail_open");
  Ran bad = run_process({EDGEKEYD_PATH, "--config", d.config, "--check-config"});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "edgekeyd: " + d.config + ":" + std::to_string(line) +
                         ": staleness.policy: expected serve_stale or fail_closed, got \"fail_open\"\n");

  Ran missing = run_process({EDGEKEYD_PATH, "--config", d.dir.file("nope.yaml"), "--check-config"});
  EXPECT_EQ(missing.rc, 2);
  EXPECT_EQ(missing.err, "edgekeyd: " + d.dir.file("nope.yaml") + ": cannot read: No such file or directory\n");
}

TEST(Daemon, HelpAndABadCommandLine) {
  Ran help = run_process({EDGEKEYD_PATH, "--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("--check-config"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("--config"), std::string::npos) << help.out;
  // 2, as a bad config: systemd's RestartPreventExitStatus=2 does not retry it.
  Ran bad = run_process({EDGEKEYD_PATH, "--no-such-flag"});
  EXPECT_EQ(bad.rc, 2) << bad.err;
  EXPECT_NE(bad.err.find("--no-such-flag"), std::string::npos) << bad.err;
}

TEST(Daemon, NotReadyUntilTheFirstCompleteLoad) {
  DaemonProcess d;  // no keyset file and no snapshot yet
  MintedKey k = mint_key("key_late");
  d.start();
  ASSERT_TRUE(eventually([&] { return Client(d.socket).ok(); })) << d.log();
  EXPECT_EQ(d.get("/healthz").status, 200);
  EXPECT_EQ(d.get("/readyz").status, 503);
  HttpResponse v = d.validate(k.token);
  EXPECT_EQ(v.status, 503);
  EXPECT_EQ(v.header("X-Edgekey-Code").value_or(""), "keyset_unavailable");
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/status").body)["ready"], false);
  // READY=1 would have gone out before the socket answered anything.
  EXPECT_FALSE(d.wait_notify("READY=1", 100ms));

  d.write_keys({k.record});  // the keyset appears (written aside, renamed in)
  ASSERT_TRUE(d.wait_notify("READY=1")) << d.log();
  EXPECT_EQ(d.get("/readyz").status, 200);
  EXPECT_EQ(d.validate(k.token).status, 200);
}

TEST(Daemon, ASnapshotFollowsEachChangeBurstSoEvenAKilledDaemonLeavesOne) {
  DaemonProcess d;
  MintedKey a = mint_key("key_burst_a"), b = mint_key("key_burst_b");
  d.write_keys({a.record});
  d.start_ready();
  d.write_keys({a.record, b.record});
  auto snapshot_has_b = [&] {
    sync::SnapshotLoad s = sync::load_snapshot(d.snapshot);
    if (!s.ok()) return false;
    return std::any_of(s.snapshot.records.begin(), s.snapshot.records.end(),
                       [](const sync::KeyRecord &r) { return r.id == "key_burst_b"; });
  };
  ASSERT_TRUE(eventually(snapshot_has_b, 10000ms)) << d.log();
  const std::string snap = read_text(d.snapshot);
  EXPECT_EQ(snap.find(b.token), std::string::npos) << "a token in the snapshot";
  struct stat st {};
  ASSERT_EQ(stat(d.snapshot.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  for (const auto &e : std::filesystem::directory_iterator(d.dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << "left behind: " << e.path();

  // SIGKILL: no snapshot on the way out; after a "reboot" (no table) with the
  // keyset gone, the burst's snapshot is what the daemon serves.
  d.stop(SIGKILL);
  shm::TableWriter::destroy(d.table);
  ASSERT_EQ(unlink(d.keyset.c_str()), 0);
  d.drain_notify();
  d.start_ready();
  EXPECT_EQ(d.validate(b.token).status, 200) << d.log();
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/status").body)["upstream"]["from_snapshot"], true);
}

TEST(Daemon, AnOldSnapshotIsServedPerTheStalenessPolicyUntilTheUpstreamReturns) {
  MintedKey k = mint_key("key_old");
  auto old_snapshot = [&](DaemonProcess &d) {
    sync::Snapshot s;
    s.revision = 7;
    s.written_at = int64_t(time(nullptr)) - 3600;  // an hour ago; staleness.max is a minute
    s.region = "in-mum";
    s.source = "file:" + d.keyset;
    s.records = {k.record};
    sync::save_snapshot(d.snapshot, s);
  };
  DaemonProcess closed("staleness:\n  max: 60s\n  policy: fail_closed\n");
  DaemonProcess open("staleness:\n  max: 60s\n  policy: serve_stale\n");
  old_snapshot(closed);
  old_snapshot(open);
  closed.start_ready();  // ready: it has keys to answer with, from the snapshot
  open.start_ready();

  HttpResponse r = closed.validate(k.token);
  EXPECT_EQ(r.status, 503) << closed.log();
  EXPECT_EQ(r.header("X-Edgekey-Code").value_or(""), "keyset_stale");
  EXPECT_EQ(open.validate(k.token).status, 200) << open.log();
  EXPECT_EQ(nlohmann::json::parse(open.get("/v1/status").body)["upstream"]["last_contact_age_seconds"].get<int64_t>() >=
                3600,
            true);

  closed.write_keys({k.record});  // the upstream is readable again: fresh
  EXPECT_TRUE(eventually([&] { return closed.validate(k.token).status == 200; })) << closed.log();
  EXPECT_EQ(nlohmann::json::parse(closed.get("/v1/status").body)["upstream"]["from_snapshot"], false);
}

TEST(Daemon, WatchdogPingsAtHalfWatchdogSecAndOnlyWhenAsked) {
  {
    DaemonProcess d;  // no WATCHDOG_USEC: systemd did not ask for a watchdog
    MintedKey a = mint_key("key_wd_a"), b = mint_key("key_wd_b");
    d.write_keys({a.record});
    d.start_ready();
    d.write_keys({a.record, b.record});
    // STATUS= goes out from the loop's tick right after the watchdog's turn.
    ASSERT_TRUE(d.wait_notify("STATUS=2 keys, revision 2")) << d.log();
    for (const auto &n : d.notifications) EXPECT_EQ(n.find("WATCHDOG=1"), std::string::npos) << n;
  }
  DaemonProcess d;
  d.write_keys({mint_key("key_wd").record});
  d.start_ready({"WATCHDOG_USEC=1000000"});  // WatchdogSec=1s: a ping every 0.5 s
  ASSERT_TRUE(d.wait_notify("WATCHDOG=1"));
  d.notifications.clear();
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kPings = 4;
  for (int i = 0; i < kPings; ++i) {
    ASSERT_TRUE(d.wait_notify("WATCHDOG=1", 2000ms)) << "ping " << i;
    d.notifications.clear();
  }
  const auto mean = (std::chrono::steady_clock::now() - t0) / kPings;
  EXPECT_GE(mean, 250ms) << "pings far more often than half of WatchdogSec";
  EXPECT_LE(mean, 750ms) << "pings not at half of WatchdogSec (1 s)";
}
