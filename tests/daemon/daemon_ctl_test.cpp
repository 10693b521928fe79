// edgekeyd end to end with edgekeyctl: validate with IP and origin, rotate
// with a grace period, and scripts/run's demo and the commands it prints.
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

TEST(Daemon, EdgekeyctlValidatesWithIpAndOriginAndRotatesWithAGracePeriod) {
  DaemonProcess d;
  d.write_keys({});
  d.start_ready();
  auto [rc, out] = ctl(d, {"--json", "keys", "create", "--workspace", "ws_ctl", "--type", "secret", "--env", "live",
                           "--role", "developer", "--allow-cidr", "10.0.0.0/8", "--name", "ci"});
  ASSERT_EQ(rc, 0) << out;
  const auto sk = nlohmann::json::parse(out);
  const std::string token = sk["token"], id = sk["id"];
  auto [prc, pout] = ctl(d, {"--json", "keys", "create", "--workspace", "ws_ctl", "--type", "publishable", "--env",
                             "live", "--role", "viewer", "--scope", "chat:write", "--allow-origin",
                             "https://app.example.com"});
  ASSERT_EQ(prc, 0) << pout;
  const std::string ptoken = nlohmann::json::parse(pout)["token"];
  ASSERT_TRUE(eventually([&] { return d.validate(ptoken).header("X-Edgekey-Code") == "origin_not_allowed"; }))
      << d.log();

  // --ip and --origin reach the daemon as X-Real-IP and Origin.
  auto in = ctl(d, {"validate", token, "--ip", "10.1.2.3", "--permission", "agents:deploy"});
  EXPECT_EQ(in.first, 0) << in.second;
  EXPECT_EQ(in.second, "200 ok " + id + " (ws_ctl, developer)\n");
  auto outside = ctl(d, {"validate", token, "--ip", "192.0.2.1"});
  EXPECT_EQ(outside.first, 1);
  EXPECT_EQ(outside.second.rfind("403 ip_not_allowed", 0), 0u) << outside.second;
  EXPECT_EQ(ctl(d, {"validate", token}).first, 1) << "a key with CIDRs and no client IP";
  auto own = ctl(d, {"validate", ptoken, "--origin", "https://app.example.com", "--permission", "chat:write"});
  EXPECT_EQ(own.first, 0) << own.second;
  auto evil = ctl(d, {"--json", "validate", ptoken, "--origin", "https://evil.example.com"});
  EXPECT_EQ(evil.first, 1);
  EXPECT_EQ(nlohmann::json::parse(evil.second)["code"], "origin_not_allowed") << evil.second;

  // The socket itself: X-Real-IP, else the first X-Forwarded-For address.
  EXPECT_EQ(d.validate(token, {"X-Forwarded-For: 10.9.9.9, 192.0.2.1"}).status, 200);
  EXPECT_EQ(d.validate(token, {"X-Forwarded-For: 192.0.2.1, 10.9.9.9"}).status, 403);
  EXPECT_EQ(d.validate(token, {"X-Real-IP: 192.0.2.1", "X-Forwarded-For: 10.9.9.9"}).status, 403);

  auto [src, sout] = ctl(d, {"--json", "status"});
  ASSERT_EQ(src, 0) << sout;
  const auto st = nlohmann::json::parse(sout);
  EXPECT_EQ(st["ready"], true);
  EXPECT_EQ(st["table"]["live_keys"], 2);

  // rotate --grace 1h: the new key works and so does the old one, for now.
  auto [rrc, rout] = ctl(d, {"--json", "keys", "rotate", id, "--grace", "1h"});
  ASSERT_EQ(rrc, 0) << rout;
  const auto rot = nlohmann::json::parse(rout);
  const std::string token2 = rot["token"], id2 = rot["id"];
  const std::vector<std::string> ip = {"X-Real-IP: 10.1.2.3"};
  ASSERT_TRUE(eventually([&] { return d.validate(token2, ip).status == 200; })) << d.log();
  HttpResponse old = d.validate(token, ip);
  EXPECT_EQ(old.status, 200);
  EXPECT_FALSE(nlohmann::json::parse(old.body)["expires_at"].is_null()) << old.body;
  // rotate --grace 0s: the replaced key stops at once.
  auto [r2, o2] = ctl(d, {"--json", "keys", "rotate", id2, "--grace", "0s"});
  ASSERT_EQ(r2, 0) << o2;
  const std::string token3 = nlohmann::json::parse(o2)["token"];
  ASSERT_TRUE(eventually([&] { return d.validate(token2, ip).header("X-Edgekey-Code") == "expired_key"; }))
      << d.log();
  EXPECT_EQ(d.validate(token3, ip).status, 200);
  EXPECT_EQ(d.validate(token, ip).status, 200);

  auto [shrc, shout] = ctl(d, {"--json", "keys", "show", id2});
  ASSERT_EQ(shrc, 0);
  EXPECT_EQ(shout.find(token2), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(shout)["rotated_from"], id);
  EXPECT_EQ(ctl(d, {"keys", "show", "key_NoSuchKey0"}).first, 3);
  auto [lrc, lout] = ctl(d, {"--json", "keys", "list"});
  ASSERT_EQ(lrc, 0);
  EXPECT_EQ(nlohmann::json::parse(lout)["keys"].size(), 3u) << lout;  // the expired one is not active
}

// scripts/run, with the built binaries and a scratch run directory: it starts
// edgekeyd on the example config and keyset, and the commands it prints work.
TEST(ScriptsRun, StartsTheDemoAndTheCommandsItPrintsWork) {
  const std::filesystem::path repo = EDGEKEY_SOURCE_DIR;  // not __FILE__: ccache makes it relative
  ASSERT_TRUE(std::filesystem::exists(repo / "scripts/run")) << repo;
  TempDir dir;
  const std::string run_dir = dir.file("run"), table = "ektest-run-" + std::to_string(getpid());
  const std::string notify_path = dir.file("notify.sock"),
                    log_path = log_path_or("scripts-run", dir.file("run.log"));  // tests/logscan
  int nfd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a {};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", notify_path.c_str());
  ASSERT_EQ(bind(nfd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    FILE *log = freopen(log_path.c_str(), "w", stderr);
    (void)log;
    setenv("EDGEKEYD", EDGEKEYD_PATH, 1);
    setenv("EDGEKEYCTL", EDGEKEYCTL_PATH, 1);
    setenv("EDGEKEY_RUN_DIR", run_dir.c_str(), 1);
    setenv("EDGEKEY_RUN_TABLE", table.c_str(), 1);
    setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    execl("/bin/bash", "bash", (repo / "scripts/run").c_str(), (char *)nullptr);
    _exit(127);
  }
  close(out[1]);
  struct Cleanup {
    pid_t &pid;
    int fds[2];
    std::string table;
    ~Cleanup() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
      for (int fd : fds) close(fd);
      shm::TableWriter::destroy(table);
    }
  } cleanup{pid, {nfd, out[0]}, table};

  // READY=1 from edgekeyd, which the script exec()s into (same pid).
  bool ready = false;
  const auto deadline = std::chrono::steady_clock::now() + 20000ms;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    struct pollfd p = {nfd, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      char buf[4096];
      ssize_t n = recv(nfd, buf, sizeof buf, 0);
      ready = n > 0 && std::string(buf, size_t(n)).find("READY=1") != std::string::npos;
    } else if (waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      break;
    }
  }
  ASSERT_TRUE(ready) << "scripts/run did not start edgekeyd; its stderr:\n" << read_text(log_path);

  // Everything it printed came before the exec.
  std::string printed;
  for (;;) {
    struct pollfd p = {out[0], POLLIN, 0};
    if (poll(&p, 1, 0) != 1) break;
    char buf[4096];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    printed.append(buf, size_t(n));
  }
  std::vector<std::string> commands;
  for (size_t at = printed.find("Try, from another terminal:\n"); at != std::string::npos;) {
    size_t start = printed.find('\n', at) + 1, end = printed.find('\n', start);
    if (end == std::string::npos || printed.compare(start, 2, "  ") != 0) break;
    commands.push_back(printed.substr(start + 2, end - start - 2));
    at = end;
  }
  ASSERT_EQ(commands.size(), 3u) << printed;
  EXPECT_NE(commands[0].find(" validate "), std::string::npos) << commands[0];
  EXPECT_EQ(commands[1].rfind("curl ", 0), 0u) << commands[1];
  EXPECT_NE(commands[2].find(" keys revoke "), std::string::npos) << commands[2];
  EXPECT_NE(printed.find("/dev/shm/" + table), std::string::npos) << printed;

  Ran v = run_process({"/bin/sh", "-c", commands[0]});
  EXPECT_EQ(v.rc, 0) << v.out << v.err;
  EXPECT_EQ(v.out.rfind("200 ok key_", 0), 0u) << v.out;
  Ran c = run_process({"/bin/sh", "-c", commands[1]});
  ASSERT_EQ(c.rc, 0) << c.err;
  const auto body = nlohmann::json::parse(c.out, nullptr, false);
  EXPECT_EQ(body.value("status", 0), 200) << c.out;
  EXPECT_EQ(body.value("code", ""), "ok") << c.out;
  // The demo keyset of examples/ is in, beside the key the script made.
  const std::string keys = read_text(run_dir + "/keys.yaml");
  EXPECT_NE(keys.find("key_DemoPk0001"), std::string::npos) << keys;
  EXPECT_NE(keys.find("key_DemoSk0002"), std::string::npos) << keys;

  Ran r = run_process({"/bin/sh", "-c", commands[2]});
  EXPECT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_TRUE(eventually([&] { return run_process({"/bin/sh", "-c", commands[0]}).out.rfind("401 revoked_key", 0) == 0; }))
      << read_text(log_path);

  kill(pid, SIGTERM);
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  pid = -1;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
}
