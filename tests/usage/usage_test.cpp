// Usage counting end to end (issue #19): reader processes validating through
// libedgekey, the real edgekeyd folding their usage segments into /metrics
// by path and code, a key's last use, and both surviving reader exits and
// edgekeyd restarts without a count lost or counted twice.
#include "daemon_test_helpers.hpp"
#include "shm/writer/usage_reader.hpp"

#include <edgekey/edgekey.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <map>

namespace edgekey::test {
namespace {

// What one reader process does: `n` validations of each kind.
struct Mix {
  int ok = 0, unknown = 0, missing = 0, denied = 0, revoked = 0;
};

class Usage : public ::testing::Test {
 protected:
  void SetUp() override {
    ok = mint_key("key_ok");
    rev = mint_key("key_rev");
    rev.record.status = sync::KeyStatus::Revoked;
    rev.record.revoked_at = int64_t(time(nullptr)) - 60;
    d.write_keys({ok.record, rev.record});
    d.start_ready();
    unknown = shm::generate_token("ek", "sk", "live");
  }

  // Forks a process that opens its own validator, runs `m` and exits.
  pid_t reader(const Mix &m) {
    pid_t p = fork();
    if (p != 0) return p;
    ek_validator *v = nullptr;
    if (ek_open(d.address().c_str(), &v) != 0 || ek_set_counting(v, 1) != 1) _exit(3);
    auto run = [&](int n, const std::string &auth, const char *perm, int want) {
      for (int i = 0; i < n; ++i) {
        ek_request q{auth.c_str(), perm, nullptr, nullptr, nullptr};
        ek_result r;
        if (ek_validate(v, &q, &r) != 0 || r.code != want) _exit(4);
      }
    };
    run(m.ok, "Bearer " + ok.token, "agents:read", EK_CODE_OK);
    run(m.unknown, "Bearer " + unknown, nullptr, EK_CODE_UNKNOWN_KEY);
    run(m.missing, "Bearer ", nullptr, EK_CODE_MISSING_TOKEN);
    run(m.denied, "Bearer " + ok.token, "billing:manage", EK_CODE_INSUFFICIENT_PERMISSION);
    run(m.revoked, "Bearer " + rev.token, nullptr, EK_CODE_REVOKED_KEY);
    ek_close(v);
    _exit(0);
  }
  static void wait_ok(pid_t p) {
    int st = 0;
    ASSERT_EQ(waitpid(p, &st, 0), p);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "reader status " << st;
  }

  double lib(const std::string &m, int code) {
    return sample_value(m, "edgekey_validations_total{path=\"library\",status=\"" +
                               std::to_string(ek_code_status(code)) + "\",code=\"" + ek_code_name(code) + "\"}");
  }
  // Waits until edgekeyd's library counts are `want` (per code), then checks
  // they stay so for another scan (nothing counted twice).
  void expect_library(const std::map<int, double> &want) {
    std::string m;
    auto matches = [&] {
      m = d.get("/metrics").body;
      for (int c = 0; c < EK_CODE_COUNT_; ++c) {
        auto it = want.find(c);
        if (lib(m, c) != (it == want.end() ? 0 : it->second)) return false;
      }
      return true;
    };
    ASSERT_TRUE(eventually(matches)) << m;
    const auto scans = [&] { return sample_value(d.get("/metrics").body, "edgekey_usage_segments"); };
    ASSERT_TRUE(eventually([&] { return scans() == 0; })) << "segments of exited readers not reaped";
    EXPECT_TRUE(matches()) << m;
  }

  void expect_library_ok_eventually(double n) {
    std::string m;
    ASSERT_TRUE(eventually([&] {
      m = d.get("/metrics").body;
      return lib(m, EK_CODE_OK) == n;
    })) << m;
  }

  DaemonProcess d;
  MintedKey ok, rev;
  std::string unknown;
};

TEST_F(Usage, ReaderProcessesAreCountedExactlyPerCode) {
  const Mix m{.ok = 1000, .unknown = 300, .missing = 20, .denied = 7, .revoked = 3};
  std::vector<pid_t> kids;
  for (int i = 0; i < 4; ++i) kids.push_back(reader(m));
  for (pid_t p : kids) wait_ok(p);
  expect_library({{EK_CODE_OK, 4000}, {EK_CODE_UNKNOWN_KEY, 1200}, {EK_CODE_MISSING_TOKEN, 80},
                  {EK_CODE_INSUFFICIENT_PERMISSION, 28}, {EK_CODE_REVOKED_KEY, 12}});
  const std::string metrics = d.get("/metrics").body;
  EXPECT_TRUE(has_sample(metrics, "edgekey_revoked_key_uses_total 12")) << metrics;
  if (access("/usr/bin/promtool", X_OK) == 0) {  // scripts/deps installs it (prometheus)
    const std::string file = d.dir.file("metrics.txt");
    DaemonProcess::write_file(file, metrics);
    const Ran lint = run_process({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
    EXPECT_EQ(lint.rc, 0) << lint.out << lint.err;
  }
  EXPECT_TRUE(has_sample(metrics, "edgekey_reader_processes 0")) << metrics;
  // The socket's answers are its own path, never the library's too.
  EXPECT_EQ(d.validate(ok.token).status, 200);
  ASSERT_TRUE(eventually([&] {
    return sample_value(d.get("/metrics").body,
                        "edgekey_validations_total{path=\"socket\",status=\"200\",code=\"ok\"}") == 1;
  }));
  EXPECT_EQ(lib(d.get("/metrics").body, EK_CODE_OK), 4000);
}

TEST_F(Usage, CountsSurviveRestartsWithoutDoubleCounting) {
  wait_ok(reader({.ok = 500, .unknown = 50}));
  EXPECT_EQ(d.validate(ok.token).status, 200);
  expect_library({{EK_CODE_OK, 500}, {EK_CODE_UNKNOWN_KEY, 50}});

  // A live reader's segment, folded in part before each restart.
  int go[2], done[2];
  ASSERT_EQ(pipe2(go, O_CLOEXEC), 0);  // not inherited by the edgekeyd started below
  ASSERT_EQ(pipe2(done, O_CLOEXEC), 0);
  pid_t live = fork();
  if (live == 0) {
    close(go[1]);
    close(done[0]);
    ek_validator *v = nullptr;
    if (ek_open(d.address().c_str(), &v) != 0) _exit(3);
    const std::string auth = "Bearer " + ok.token;
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    char c;
    while (read(go[0], &c, 1) == 1) {  // one byte: 100 validations, then a byte back
      for (int i = 0; i < 100; ++i) ek_validate(v, &q, &r);
      if (write(done[1], "x", 1) != 1) _exit(5);
    }
    _exit(0);
  }
  close(go[0]);
  close(done[1]);
  auto batch = [&] {
    char c;
    ASSERT_EQ(write(go[1], "x", 1), 1);
    ASSERT_EQ(read(done[0], &c, 1), 1);
  };
  batch();
  ASSERT_TRUE(eventually([&] { return lib(d.get("/metrics").body, EK_CODE_OK) == 600; }));

  ASSERT_EQ(d.stop(), 0);  // SIGTERM: saved on the way out
  batch();                 // counted while edgekeyd is down
  d.drain_notify();
  d.start_ready();
  ASSERT_TRUE(eventually([&] { return lib(d.get("/metrics").body, EK_CODE_OK) == 700; })) << d.get("/metrics").body;

  d.stop(SIGKILL);  // no save on the way out: the last periodic one stands
  batch();
  d.drain_notify();
  d.start_ready();
  ASSERT_TRUE(eventually([&] { return lib(d.get("/metrics").body, EK_CODE_OK) == 800; })) << d.get("/metrics").body;
  const std::string m = d.get("/metrics").body;
  EXPECT_TRUE(has_sample(m, "edgekey_validations_total{path=\"socket\",status=\"200\",code=\"ok\"} 1")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_reader_processes 1")) << m;

  close(go[1]);
  wait_ok(live);
  expect_library({{EK_CODE_OK, 800}, {EK_CODE_UNKNOWN_KEY, 50}});
}

TEST_F(Usage, SigkilledReaderLosesAtMostItsCallInFlight) {
  auto *done = static_cast<std::atomic<uint64_t> *>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(done, MAP_FAILED);
  new (done) std::atomic<uint64_t>(0);
  pid_t p = fork();
  if (p == 0) {
    ek_validator *v = nullptr;
    if (ek_open(d.address().c_str(), &v) != 0) _exit(3);
    const std::string auth = "Bearer " + ok.token;
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    for (;;) {
      ek_validate(v, &q, &r);
      done->fetch_add(1, std::memory_order_release);
    }
  }
  ASSERT_TRUE(eventually([&] { return done->load() >= 200000; }));
  kill(p, SIGKILL);
  waitpid(p, nullptr, 0);
  const uint64_t n = done->load(std::memory_order_acquire);
  std::string m;
  ASSERT_TRUE(eventually([&] {
    m = d.get("/metrics").body;
    return sample_value(m, "edgekey_usage_segments") == 0 && lib(m, EK_CODE_OK) >= double(n);
  })) << m;
  EXPECT_LE(lib(m, EK_CODE_OK), double(n + 1)) << m;
  munmap(done, 4096);
}

// A reader in the group may truncate its own segment: edgekeyd never maps
// one, so it neither crashes (SIGBUS) nor folds the truncated copy.
TEST_F(Usage, ATruncatedSegmentChangesNothingAndEdgekeydKeepsServing) {
  int to_parent[2], to_child[2];
  ASSERT_EQ(pipe(to_parent), 0);
  ASSERT_EQ(pipe(to_child), 0);
  pid_t p = fork();
  if (p == 0) {
    ek_validator *v = nullptr;
    if (ek_open(d.address().c_str(), &v) != 0 || ek_set_counting(v, 1) != 1) _exit(3);
    const std::string auth = "Bearer " + ok.token;
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    for (int i = 0; i < 10; ++i) ek_validate(v, &q, &r);
    char c = 'v';
    if (write(to_parent[1], &c, 1) != 1 || read(to_child[0], &c, 1) != 1) _exit(4);
    const std::string prefix = std::to_string(getpid()) + ".";
    for (const std::string &n : shm::usage_segment_names(d.address()))
      if (n.rfind(prefix, 0) == 0 && truncate((shm::usage_dir(d.address()) + "/" + n).c_str(), 8) != 0) _exit(5);
    c = 't';
    if (write(to_parent[1], &c, 1) != 1) _exit(6);
    pause();  // never validates again: its own writes past the truncation would fault
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  expect_library_ok_eventually(10);
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 't');
  wait_ok(reader({.ok = 5}));  // counted by scans that also met the truncated segment
  expect_library_ok_eventually(15);
  EXPECT_EQ(d.get("/healthz").status, 200);
  EXPECT_EQ(d.validate(ok.token).status, 200);
  kill(p, SIGKILL);
  waitpid(p, nullptr, 0);
  ASSERT_TRUE(eventually([&] { return sample_value(d.get("/metrics").body, "edgekey_usage_segments") == 0; }))
      << "the truncated segment of a dead reader is never removed";
  EXPECT_EQ(lib(d.get("/metrics").body, EK_CODE_OK), 15);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) close(fd);
}

// A file a reader never finished (killed while making a segment, e.g. a
// spare) is removed once that reader is gone; a live reader's is kept.
TEST_F(Usage, AnUnfinishedSegmentOfAGoneReaderIsRemoved) {
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  ASSERT_EQ(waitpid(gone, nullptr, 0), gone);
  const std::string dir = shm::usage_dir(d.address());
  const std::string short_file = dir + "/" + std::to_string(gone) + ".7";
  const std::string no_magic = dir + "/" + std::to_string(gone) + ".8";
  const std::string live = dir + "/" + std::to_string(getpid()) + ".900";
  DaemonProcess::write_file(short_file, "EKYU");
  DaemonProcess::write_file(no_magic, std::string(256, '\0'));
  DaemonProcess::write_file(live, "EKYU");
  wait_ok(reader({.ok = 1}));  // its segment is made after the files: the scan that folds it lists them
  expect_library_ok_eventually(1);
  EXPECT_NE(access(short_file.c_str(), F_OK), 0) << "an unfinished segment of a gone reader is kept";
  EXPECT_NE(access(no_magic.c_str(), F_OK), 0) << "an unfinished segment of a gone reader is kept";
  EXPECT_EQ(access(live.c_str(), F_OK), 0) << "a live reader's unfinished segment was removed";
  unlink(live.c_str());
}

TEST_F(Usage, RevokedKeyThroughTheLibraryIsLoggedAndCounted) {
  wait_ok(reader({.revoked = 5}));
  wait_ok(reader({.revoked = 5}));
  expect_library({{EK_CODE_REVOKED_KEY, 10}});
  EXPECT_TRUE(has_sample(d.get("/metrics").body, "edgekey_revoked_key_uses_total 10"));
  const std::string log = d.log();
  const std::string line = "revoked key key_rev (workspace ws_test) was used";
  ASSERT_NE(log.find(line), std::string::npos) << log;
  EXPECT_EQ(log.find(line, log.find(line) + 1), std::string::npos) << "logged more than once a minute:\n" << log;
  EXPECT_EQ(log.find(rev.token), std::string::npos);
}

TEST_F(Usage, LastUseOfAKeyThroughEveryPath) {
  nlohmann::json k = nlohmann::json::parse(d.get("/v1/keys/key_ok").body);
  EXPECT_TRUE(k["last_used_at"].is_null()) << k;
  EXPECT_EQ(k["uses_last_day"], 0);
  const int64_t before = int64_t(time(nullptr));
  wait_ok(reader({.ok = 7}));
  ASSERT_TRUE(eventually([&] {
    k = nlohmann::json::parse(d.get("/v1/keys/key_ok").body);
    return k["uses_last_day"] == 7;
  })) << k;
  int64_t at = 0;
  ASSERT_TRUE(k["last_used_at"].is_string()) << k;
  ASSERT_TRUE(sync::parse_time(k["last_used_at"].get<std::string>(), at));
  EXPECT_GE(at, before - 2);  // the readers' clock is edgekeyd's heartbeat (~1 s)
  EXPECT_LE(at, int64_t(time(nullptr)));
  EXPECT_EQ(d.validate(ok.token).status, 200);  // the socket's use counts too
  ASSERT_TRUE(eventually([&] {
    return nlohmann::json::parse(d.get("/v1/keys/key_ok").body)["uses_last_day"] == 8;
  }));
  const auto all = nlohmann::json::parse(d.get("/v1/usage").body);
  EXPECT_EQ(all["keys"]["key_ok"]["uses_last_day"], 8) << all;
  EXPECT_FALSE(all["keys"].contains("key_rev")) << all;
  // It survives a restart.
  ASSERT_EQ(d.stop(), 0);
  d.drain_notify();
  d.start_ready();
  k = nlohmann::json::parse(d.get("/v1/keys/key_ok").body);
  EXPECT_EQ(k["uses_last_day"], 8) << k;
  EXPECT_TRUE(k["last_used_at"].is_string()) << k;
}

// edgekeyctl keys list: a LAST USED column and --unused-since, a key never
// used counting as unused since its creation; keys show: its last use.
TEST_F(Usage, KeysListShowsLastUseAndFiltersUnusedKeys) {
  const int64_t now = int64_t(time(nullptr));
  ok.record.created_at = now - 10 * 86400;
  MintedKey idle = mint_key("key_idle"), young = mint_key("key_young");
  idle.record.created_at = now - 10 * 86400;
  young.record.created_at = now - 3600;
  d.write_keys({ok.record, rev.record, idle.record, young.record});
  ASSERT_TRUE(eventually([&] { return d.get("/v1/keys/key_young").status == 200; }));
  wait_ok(reader({.ok = 2}));
  ASSERT_TRUE(eventually([&] {
    return nlohmann::json::parse(d.get("/v1/keys/key_ok").body)["uses_last_day"] == 2;
  }));
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {EDGEKEYCTL_PATH, "--config", d.config});
    return run_process(args);
  };
  Ran unused = ctl({"keys", "list", "--unused-since", "7d"});
  ASSERT_EQ(unused.rc, 0) << unused.err;
  EXPECT_NE(unused.out.find("LAST USED"), std::string::npos) << unused.out;
  EXPECT_NE(unused.out.find("key_idle"), std::string::npos) << unused.out;
  EXPECT_EQ(unused.out.find("key_ok"), std::string::npos) << "used a moment ago:\n" << unused.out;
  EXPECT_EQ(unused.out.find("key_young"), std::string::npos) << "created an hour ago:\n" << unused.out;
  Ran young_too = ctl({"keys", "list", "--unused-since", "30m"});
  EXPECT_NE(young_too.out.find("key_young"), std::string::npos) << young_too.out;
  EXPECT_EQ(young_too.out.find("key_ok"), std::string::npos) << young_too.out;

  Ran list = ctl({"--json", "keys", "list"});
  ASSERT_EQ(list.rc, 0) << list.err;
  bool seen = false;
  const nlohmann::json listed = nlohmann::json::parse(list.out);
  for (const auto &k : listed["keys"])
    if (k["id"] == "key_ok") {
      seen = true;
      EXPECT_TRUE(k["last_used_at"].is_string()) << k;
      EXPECT_EQ(k["uses_last_day"], 2) << k;
    } else {
      EXPECT_TRUE(k["last_used_at"].is_null()) << k;
    }
  EXPECT_TRUE(seen) << list.out;
  Ran show = ctl({"keys", "show", "key_ok"});
  ASSERT_EQ(show.rc, 0) << show.err;
  EXPECT_NE(show.out.find("uses_last_day:   2"), std::string::npos) << show.out;
  EXPECT_EQ(show.out.find("last_used_at:    never"), std::string::npos) << show.out;

  EXPECT_EQ(ctl({"keys", "list", "--unused-since", "soon"}).rc, 2);
  ASSERT_EQ(d.stop(), 0);  // no edgekeyd: the filter cannot answer, the list still can
  EXPECT_EQ(ctl({"keys", "list", "--unused-since", "7d"}).rc, 4);
  Ran plain = ctl({"keys", "list"});
  EXPECT_EQ(plain.rc, 0) << plain.err;
  EXPECT_NE(plain.out.find("key_idle"), std::string::npos) << plain.out;
}

}  // namespace
}  // namespace edgekey::test
