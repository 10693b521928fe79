// edgekeyd with its table in a filesystem without room (a container's small
// /dev/shm): small tmpfs mounts as table.directory, made by the test (root
// only; skipped with the reason elsewhere).
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"
#include "tmpfs_mount.hpp"

#include <edgekey/validator.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>

using namespace edgekey;
using namespace edgekey::test;

namespace {

constexpr uint64_t kKiB = 1024;

size_t count_of(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

#define NEED_TMPFS(m)                \
  if (!(m).ok()) GTEST_SKIP() << (m).why

}  // namespace

TEST(DaemonRoom, ATableTooLargeForItsFilesystemIsRefusedAtStartWithWhatToDo) {
  TmpfsMount m(64 * kKiB);  // 1024 slots need 128 KiB and an arena
  NEED_TMPFS(m);
  DaemonProcess d;
  d.table_directory = m.path;
  d.write_config("");
  d.write_keys({mint_key("key_a").record});

  Ran check = run_process({EDGEKEYD_PATH, "--config", d.config, "--check-config"});
  EXPECT_EQ(check.rc, 1) << check.out;
  EXPECT_NE(check.out.find("does not fit"), std::string::npos) << check.out;

  d.start();
  ASSERT_TRUE(d.wait_exit(10000ms)) << "edgekeyd kept running without room for its table";
  ASSERT_TRUE(WIFEXITED(d.exit_status())) << "edgekeyd died of a signal (SIGBUS?): " << d.exit_status();
  EXPECT_EQ(WEXITSTATUS(d.exit_status()), 1);
  const std::string log = d.log();
  for (const char *part : {"does not fit", m.path.c_str(), "free", "--shm-size", "sizeLimit", "remount,size="})
    EXPECT_NE(log.find(part), std::string::npos) << part << " missing from:\n" << log;

  ASSERT_TRUE(m.resize(4096 * kKiB));
  check = run_process({EDGEKEYD_PATH, "--config", d.config, "--check-config"});
  EXPECT_EQ(check.rc, 0) << check.out;
  EXPECT_NE(check.out.find("fits"), std::string::npos) << check.out;
  d.start_ready();
  EXPECT_EQ(d.validate(mint_key("key_b").token).status, 401);
}

// A keyset that outgrows the filesystem while edgekeyd serves: the keys
// that fit apply, the table keeps serving all it held, the rest are
// reported (log once, /v1/status, /metrics, /readyz) and go in by
// themselves once room appears.
TEST(DaemonRoom, KeysThatDoNotFitAreReportedAndGoInOnceThereIsRoom) {
  TmpfsMount m(1024 * kKiB);
  NEED_TMPFS(m);
  DaemonProcess d;
  d.table_directory = m.path;
  d.write_config("");
  const auto first = mint_keys("key_first_", 100);
  d.write_keys(records_of(first));
  // A watchdog ping every tick (0.1 s): the test sees ticks pass.
  d.start_ready({"WATCHDOG_USEC=200000"});
  const auto ticks = [&] {
    return std::count_if(d.notifications.begin(), d.notifications.end(),
                         [](const std::string &n) { return n.find("WATCHDOG=1") != std::string::npos; });
  };
  const auto wait_ticks = [&](long n) {
    const long until = ticks() + n;
    return eventually([&] {
      d.wait_notify("(none)", 50ms);  // reads what arrived meanwhile
      return ticks() >= until;
    });
  };
  ASSERT_GT(m.fill(), 0u);  // another user of the filesystem takes what is left

  auto v = Validator::open(d.address().c_str());
  ASSERT_TRUE(v) << Validator::error_text(v.error());
  auto all = first;
  const auto more = mint_keys("key_more_", 1200);  // past what 1024 slots hold
  all.insert(all.end(), more.begin(), more.end());
  d.write_keys(records_of(all));

  HttpResponse ready;
  ASSERT_TRUE(eventually([&] {
    ready = d.get("/readyz");
    return ready.status == 503;
  }, 10000ms)) << d.log();
  EXPECT_NE(ready.body.find("not in the table"), std::string::npos) << ready.body;
  for (const auto &k : first) ASSERT_TRUE(v.validate("Bearer " + k.token).ok()) << k.record.id;
  const auto status = nlohmann::json::parse(d.get("/v1/status").body);
  const uint64_t unplaced = status["table"]["unplaced_keys"];
  EXPECT_GT(unplaced, 0u);
  EXPECT_EQ(uint64_t(status["table"]["live_keys"]) + unplaced, all.size()) << status.dump();
  EXPECT_NE(status["table"]["room_problem"].get<std::string>().find(m.path), std::string::npos);
  EXPECT_NE(d.get("/metrics").body.find("edgekey_table_unplaced_keys " + std::to_string(unplaced)),
            std::string::npos);
  EXPECT_EQ(v.validate("Bearer " + more.back().token).code, EK_CODE_UNKNOWN_KEY);
  // Every unplaced key is known to the daemon (its metadata, the snapshot).
  EXPECT_EQ(d.get("/v1/keys/" + more.back().record.id).status, 200);

  // Reported once, not at every tick that finds them still out.
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), "keys of the upstream are not in the table") > 0; }))
      << d.log();
  ASSERT_TRUE(wait_ticks(3));

  ASSERT_EQ(unlink(m.file("filler").c_str()), 0);  // room appears
  ASSERT_TRUE(eventually([&] { return d.get("/readyz").status == 200; }, 10000ms)) << d.log();
  ASSERT_TRUE(eventually([&] { return count_of(d.log(), "holds every key of the upstream again") > 0; }));
  ASSERT_TRUE(wait_ticks(3));
  for (const auto &k : all) ASSERT_TRUE(v.validate("Bearer " + k.token).ok()) << k.record.id;
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/status").body)["table"]["unplaced_keys"], 0);
  const std::string log = d.log();
  EXPECT_EQ(count_of(log, "keys of the upstream are not in the table"), 1u) << log;
  EXPECT_EQ(count_of(log, "holds every key of the upstream again"), 1u) << log;
}
