// A full disk under edgekeyd and edgekeyctl (issue 17): the snapshot's and
// the keyset file's filesystems are small tmpfs mounts made by the test and
// filled until ENOSPC. edgekeyd serves on and logs a failed snapshot once
// per change of state, the previous snapshot stays, and the snapshot comes
// back with the room; edgekeyctl exits 5 and changes nothing. Needs root to
// mount (CI runs as root); skipped with the reason otherwise.
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"

#include "sync/record/atomic_file.hpp"
#include "sync/upstream/snapshot.hpp"
#include "tests/support/tmpfs_mount.hpp"

#include <nlohmann/json.hpp>

#include <dirent.h>

#include <algorithm>

using namespace edgekey;
using namespace edgekey::test;

namespace {

constexpr uint64_t kSmallFs = 512 * 1024;

// The names in directory `dir`, sorted ("." and ".." left out).
std::vector<std::string> names_in(const std::string &dir) {
  std::vector<std::string> out;
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d))
      if (std::string n = e->d_name; n != "." && n != "..") out.push_back(n);
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The same without edgekeyd's usage state (<snapshot>.usage), which it
// writes beside the snapshot whenever counts changed.
std::vector<std::string> names_but_usage_in(const std::string &dir) {
  std::vector<std::string> out = names_in(dir);
  out.erase(std::remove(out.begin(), out.end(), "snapshot.usage"), out.end());
  return out;
}

nlohmann::json snapshot_status(DaemonProcess &d) {
  return nlohmann::json::parse(d.get("/v1/status").body, nullptr, false)["snapshot"];
}

bool has_record(const std::string &snapshot_path, const std::string &id, const char *status = nullptr) {
  sync::SnapshotLoad s = sync::load_snapshot(snapshot_path);
  return s.ok() && std::any_of(s.snapshot.records.begin(), s.snapshot.records.end(), [&](const sync::KeyRecord &r) {
           return r.id == id && (!status || r.status == (std::string(status) == "revoked" ? sync::KeyStatus::Revoked
                                                                                          : sync::KeyStatus::Active));
         });
}

// Each test on its own small tmpfs mount; skipped, with the reason, when it
// cannot be made (not root).
class FullDisk : public ::testing::Test {
 protected:
  TmpfsMount m{kSmallFs};
  void SetUp() override {
    if (!m.ok()) GTEST_SKIP() << m.why;
  }
};

}  // namespace

// The write itself: ENOSPC is reported as a full filesystem, with its errno;
// the old file keeps its bytes and no temp file is left.
TEST_F(FullDisk, ReplaceFileAtomicallyKeepsTheOldFileAndLeavesNoTempFile) {
  const std::string path = m.file("data");
  sync::replace_file_atomically(path, std::string(1000, 'a'), 0640);
  ASSERT_GT(m.fill(), 0u);
  try {
    sync::replace_file_atomically(path, std::string(64 * 1024, 'b'), 0640);
    FAIL() << "a write to a full filesystem succeeded";
  } catch (const sync::KeysetError &e) {
    EXPECT_EQ(e.error_number, ENOSPC) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("No space left on device"), std::string::npos) << what;
    EXPECT_NE(what.find("the filesystem of " + m.path + " is full; " + path + " is unchanged"), std::string::npos)
        << what;
  }
  EXPECT_EQ(read_text(path), std::string(1000, 'a'));
  EXPECT_EQ(names_in(m.path), (std::vector<std::string>{"data", "filler"}));
}

TEST_F(FullDisk, SnapshotFailureIsLoggedOnceTheOldSnapshotStaysAndItRecoversWithRoom) {
  DaemonProcess d;
  d.snapshot = m.file("snapshot");
  d.write_config("");
  MintedKey a = mint_key("key_disk_a"), b = mint_key("key_disk_b"), c = mint_key("key_disk_c");
  d.write_keys({a.record, b.record});
  d.start_ready();
  ASSERT_TRUE(eventually([&] { return snapshot_status(d).value("written", 0) >= 1; }, 10000ms)) << d.log();
  const std::string good = read_text(d.snapshot);
  ASSERT_TRUE(has_record(d.snapshot, b.record.id)) << good;

  ASSERT_GT(m.fill(), 0u);
  d.write_keys({a.record, b.record, c.record});  // the keyset's own filesystem has room
  ASSERT_TRUE(eventually([&] { return d.validate(c.token).status == 200; })) << d.log();
  ASSERT_TRUE(eventually([&] { return snapshot_status(d).value("failed", 0) >= 1; }, 10000ms)) << d.log();
  nlohmann::json st = snapshot_status(d);
  EXPECT_EQ(st["failing"], true) << st.dump();
  EXPECT_NE(st["last_error"].get<std::string>().find("No space left on device"), std::string::npos) << st.dump();
  EXPECT_TRUE(st["failing_since"].is_string()) << st.dump();
  EXPECT_EQ(read_text(d.snapshot), good) << "the previous snapshot changed";
  EXPECT_EQ(names_but_usage_in(m.path), (std::vector<std::string>{"filler", "snapshot"})) << "a temp file was left";

  // Another attempt (a change): served, not logged again.
  sync::KeyRecord revoked = b.record;
  revoked.status = sync::KeyStatus::Revoked;
  revoked.revoked_at = int64_t(time(nullptr));
  d.write_keys({a.record, revoked, c.record});
  ASSERT_TRUE(eventually([&] { return d.validate(b.token).status == 401; })) << d.log();
  ASSERT_TRUE(eventually([&] { return snapshot_status(d).value("failed", 0) >= 2; }, 10000ms)) << d.log();
  EXPECT_EQ(d.validate(a.token).status, 200);
  EXPECT_EQ(occurrences(d.log(), "snapshot " + d.snapshot + " not written"), 1u) << d.log();
  EXPECT_EQ(read_text(d.snapshot), good);
  const std::string metrics = d.get("/metrics").body;
  EXPECT_TRUE(has_sample(metrics, "edgekey_snapshot_failing 1")) << metrics;
  EXPECT_GE(sample_value(metrics, "edgekey_snapshot_failures_total"), 2) << metrics;

  // Room again: the retry writes it without any further change, logged once.
  ASSERT_EQ(unlink(m.file("filler").c_str()), 0);
  ASSERT_TRUE(eventually([&] { return snapshot_status(d).value("failing", true) == false; }, 15000ms)) << d.log();
  st = snapshot_status(d);
  EXPECT_GE(st.value("written", 0), 2) << st.dump();
  EXPECT_EQ(st["last_error"], "") << st.dump();
  EXPECT_TRUE(st["failing_since"].is_null()) << st.dump();
  EXPECT_TRUE(has_record(d.snapshot, c.record.id)) << read_text(d.snapshot);
  EXPECT_TRUE(has_record(d.snapshot, b.record.id, "revoked")) << read_text(d.snapshot);
  EXPECT_EQ(occurrences(d.log(), "snapshot " + d.snapshot + " written again"), 1u) << d.log();
  EXPECT_EQ(occurrences(d.log(), "snapshot " + d.snapshot + " not written"), 1u) << d.log();
  EXPECT_TRUE(has_sample(d.get("/metrics").body, "edgekey_snapshot_failing 0"));
  EXPECT_LE(occurrences(d.log(), "usage state not saved"), 1u) << d.log();
  EXPECT_EQ(names_but_usage_in(m.path), (std::vector<std::string>{"snapshot"})) << "a temp file was left";
  EXPECT_EQ(d.stop(), 0);
}

// The keyset file's filesystem full: edgekeyctl exits 5 with a clear line,
// prints no token, leaves the keyset byte for byte (no temp file) and the
// lock free; edgekeyd keeps serving the keys it has; with room again the
// same commands succeed and reach the daemon.
TEST_F(FullDisk, EdgekeyctlOnAFullKeysetFilesystemExits5AndChangesNothing) {
  DaemonProcess d;
  d.keyset = m.file("keys.yaml");
  d.write_config("");
  MintedKey a = serve_one_key(d, "key_disk_ctl_a");
  auto ctl_run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {EDGEKEYCTL_PATH, "--config", d.config});
    return run_process(args);
  };
  const std::vector<std::string> create = {"--json", "keys", "create", "--workspace", "ws_disk", "--type",
                                           "secret", "--env", "live", "--role", "developer"};
  const Ran first = ctl_run(create);  // writes the lock file while there is room
  ASSERT_EQ(first.rc, 0) << first.err;
  const std::string first_token = nlohmann::json::parse(first.out)["token"];
  ASSERT_TRUE(eventually([&] { return d.validate(first_token).status == 200; })) << d.log();

  const std::string before = read_text(d.keyset);
  const std::vector<std::string> files = names_in(m.path);
  ASSERT_GT(m.fill(), 0u);
  for (const auto &args : {create, std::vector<std::string>{"keys", "revoke", a.record.id}}) {
    const Ran r = ctl_run(args);
    EXPECT_EQ(r.rc, 5) << args[1] << args[2] << ": " << r.err;
    EXPECT_EQ(r.out, "") << "a token for a key that was not stored";
    EXPECT_EQ(r.err.rfind("edgekeyctl: no change made: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(d.keyset + " is unchanged"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("make room on that filesystem and run the command again"), std::string::npos) << r.err;
    EXPECT_EQ(occurrences(r.err, "\n"), 1u) << "one line: " << r.err;
    EXPECT_EQ(read_text(d.keyset), before);
    std::vector<std::string> now = names_in(m.path);
    now.erase(std::remove(now.begin(), now.end(), "filler"), now.end());
    EXPECT_EQ(now, files) << "a temp file was left";
    EXPECT_TRUE(sync::KeysetLock::try_acquire(d.keyset).has_value()) << "the keyset lock is still held";
  }
  EXPECT_EQ(d.validate(a.token).status, 200) << "the daemon stopped serving";
  EXPECT_EQ(d.validate(first_token).status, 200);

  ASSERT_EQ(unlink(m.file("filler").c_str()), 0);
  const Ran revoke = ctl_run({"keys", "revoke", a.record.id});
  EXPECT_EQ(revoke.rc, 0) << revoke.err;
  const Ran again = ctl_run(create);
  ASSERT_EQ(again.rc, 0) << again.err;
  const std::string token = nlohmann::json::parse(again.out)["token"];
  EXPECT_TRUE(eventually([&] { return d.validate(token).status == 200 && d.validate(a.token).status == 401; }))
      << d.log();
  EXPECT_EQ(d.stop(), 0);
}
