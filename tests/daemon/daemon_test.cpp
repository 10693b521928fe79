// edgekeyd end to end: the real daemon process, its socket, its table read
// through the library, its keyset file changing under it.
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

TEST(Daemon, ValidatesThroughTheSocketAndTheLibraryAndSeesARevocation) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_first");

  HttpResponse r = d.validate(k.token, {"X-Edgekey-Permission: agents:deploy"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Edgekey-Code").value_or(""), "ok");
  EXPECT_EQ(r.header("X-Edgekey-Key-Id").value_or(""), "key_first");
  EXPECT_EQ(r.header("X-Edgekey-Workspace").value_or(""), "ws_test");
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["code"], "ok");
  EXPECT_EQ(body["role"], "developer");
  EXPECT_TRUE(body["expires_at"].is_null());

  EXPECT_EQ(d.validate(k.token, {"X-Edgekey-Permission: billing:manage"}).status, 403);
  EXPECT_EQ(d.get("/v1/validate").status, 401);

  auto v = Validator::open(d.table.c_str());
  ASSERT_TRUE(v) << Validator::error_text(v.error());
  EXPECT_TRUE(v.validate("Bearer " + k.token).ok());

  k.record.status = sync::KeyStatus::Revoked;
  k.record.revoked_at = int64_t(time(nullptr));
  d.write_keys({k.record});
  ASSERT_TRUE(eventually([&] { return v.validate("Bearer " + k.token).code == EK_CODE_REVOKED_KEY; }))
      << d.log();
  r = d.validate(k.token);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("X-Edgekey-Code").value_or(""), "revoked_key");
  EXPECT_NE(d.log().find("revoked key key_first"), std::string::npos) << "leak signal not logged";
  EXPECT_EQ(d.log().find(k.token), std::string::npos) << "a token reached the log";
}

TEST(Daemon, StatusKeysHealthReadyAndMetrics) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_meta");
  d.validate(k.token);
  auto status = nlohmann::json::parse(d.get("/v1/status").body);
  EXPECT_EQ(status["region"], "in-mum");
  EXPECT_EQ(status["table"]["live_keys"], 1);
  EXPECT_EQ(status["ready"], true);
  HttpResponse key = d.get("/v1/keys/key_meta");
  EXPECT_EQ(key.status, 200);
  EXPECT_EQ(key.body.find("sha256"), std::string::npos) << "the hash is not metadata to hand out";
  EXPECT_EQ(key.body.find(k.token), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(key.body)["workspace"], "ws_test");
  EXPECT_EQ(d.get("/v1/keys/key_nope").status, 404);
  EXPECT_EQ(d.get("/healthz").status, 200);
  EXPECT_EQ(d.get("/readyz").status, 200);
  std::string m = d.get("/metrics").body;
  EXPECT_NE(m.find("edgekey_validations_total{path=\"socket\",status=\"200\",code=\"ok\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("edgekey_table_keys{state=\"live\"} 1"), std::string::npos);
  EXPECT_NE(m.find("edgekey_socket_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.find("edgekey_last_sync_age_seconds"), std::string::npos);
  EXPECT_EQ(d.get("/nope").status, 404);
}

TEST(Daemon, ABadRecordIsRejectedWithItsIdAndLineAndTheRestApplies) {
  DaemonProcess d;
  MintedKey good = serve_one_key(d, "key_good");
  MintedKey other = mint_key("key_other");
  // key_other is fine; key_bad has a role type error.
  std::string text = sync::emit_keyset_yaml({good.record, other.record});
  text += "  - id: key_bad\n    hash: sha256:" + std::string(64, 'a') +
          "\n    workspace: ws_x\n    type: admin\n    env: live\n    role: developer\n    status: active\n";
  DaemonProcess::write_file(d.keyset + ".tmp", text);
  ASSERT_EQ(rename((d.keyset + ".tmp").c_str(), d.keyset.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return d.validate(other.token).status == 200; })) << d.log();
  EXPECT_EQ(d.validate(good.token).status, 200);
  EXPECT_TRUE(eventually([&] { return d.log().find("key_bad") != std::string::npos; }));
  std::string log = d.log();
  EXPECT_NE(log.find("type"), std::string::npos) << log;
  EXPECT_NE(log.find("keys.yaml:"), std::string::npos) << "the line is named: " << log;
}

TEST(Daemon, AFileThatIsNotYamlChangesNothing) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_stays");
  DaemonProcess::write_file(d.keyset + ".tmp", "keys: [unclosed\n  - {");
  ASSERT_EQ(rename((d.keyset + ".tmp").c_str(), d.keyset.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return d.log().find("table keeps its keys") != std::string::npos; })) << d.log();
  EXPECT_EQ(d.validate(k.token).status, 200);
}

TEST(Daemon, BadHttpGetsClearAnswersAndTheDaemonKeepsServing) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_http");
  {
    Client c(d.socket);
    c.send(std::string("\x00\x01 hello\r\n\r\n", 12));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  {
    Client c(d.socket);
    c.send("GET /v1/validate HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431);
  }
  {
    Client c(d.socket);  // leaves mid-request
    c.send("GET /v1/validate HTTP/1.1\r\nAuthorization: Bear");
  }
  {
    Client c(d.socket);
    c.send("POST /v1/status HTTP/1.1\r\nContent-Length: 0\r\n\r\n");  // (validate takes any method)
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
  }
  {  // keep-alive: three validations on one connection
    Client c(d.socket);
    for (int i = 0; i < 3; ++i) {
      c.send("GET /v1/validate HTTP/1.1\r\nAuthorization: Bearer " + k.token + "\r\n\r\n");
      auto r = c.read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
    }
  }
  EXPECT_EQ(d.validate(k.token).status, 200);
}

TEST(Daemon, BadConfigExitsWithOneLineNamingTheKey) {
  DaemonProcess d("staleness:\n  policy: fail_open\n");
  d.start();
  EXPECT_FALSE(d.wait_notify("READY=1", 5000ms));
  int st = d.stop();
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 2);
  // Exactly one line: the file and line, the key, what was expected, what it got.
  const int line = line_number(read_text(d.config), "  policy: fail_open");
  ASSERT_GT(line, 0);
  EXPECT_EQ(d.log(), "edgekeyd: " + d.config + ":" + std::to_string(line) +
                         ": staleness.policy: expected serve_stale or fail_closed, got \"fail_open\"\n");
}

TEST(Daemon, SighupWithABadConfigKeepsTheRunningOne) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_hup");
  DaemonProcess::write_file(d.config, "region: [broken\n");
  kill(d.pid, SIGHUP);
  ASSERT_TRUE(eventually([&] { return d.log().find("config not reloaded") != std::string::npos; })) << d.log();
  EXPECT_EQ(d.validate(k.token).status, 200);
}

TEST(Daemon, SighupAppliesANewPolicy) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_policy", "viewer");
  EXPECT_EQ(d.validate(k.token, {"X-Edgekey-Permission: logs:read"}).status, 403);
  d.write_config("roles:\n  owner: [\"*\"]\n  viewer: [agents:read, logs:read]\n");
  kill(d.pid, SIGHUP);
  EXPECT_TRUE(eventually([&] { return d.validate(k.token, {"X-Edgekey-Permission: logs:read"}).status == 200; }))
      << d.log();
}

TEST(Daemon, SigtermLeavesTheTableToReadersAndARestartReattaches) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_term");
  auto v = Validator::open(d.table.c_str());
  ASSERT_TRUE(v);
  int st = d.stop();
  ASSERT_TRUE(WIFEXITED(st)) << st;
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_TRUE(v.validate("Bearer " + k.token).ok()) << "the table went away with the daemon";
  d.start_ready();
  EXPECT_NE(d.log().find("re-attached to table"), std::string::npos);
  EXPECT_TRUE(v.validate("Bearer " + k.token).ok());
}

// table.directory (here a tmpfs directory; hugetlbfs is the same code, see
// tests/shm/table_directory_test.cpp): the socket and readers use the
// table's path, /dev/shm holds nothing, a restart re-attaches.
TEST(Daemon, ATableInADirectoryServesBySocketAndByPath) {
  char tmpl[] = "/dev/shm/ektest-daemon-dir.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { rmdir(path.c_str()); }
  } remove_dir{tmpl};
  {
    DaemonProcess d;
    d.table_directory = tmpl;
    d.write_config("");
    MintedKey k = serve_one_key(d, "key_dir");
    EXPECT_EQ(d.validate(k.token).status, 200) << d.log();
    const auto status = nlohmann::json::parse(d.get("/v1/status").body);
    EXPECT_EQ(status["table"]["address"], std::string(tmpl) + "/" + d.table);

    auto v = Validator::open(d.address().c_str());
    ASSERT_TRUE(v) << Validator::error_text(v.error());
    EXPECT_TRUE(v.validate("Bearer " + k.token).ok());
    EXPECT_FALSE(Validator::open(d.table.c_str())) << "the table is in /dev/shm as well";

    d.stop();
    d.start_ready();
    EXPECT_NE(d.log().find("re-attached to table " + d.address()), std::string::npos) << d.log();
    EXPECT_TRUE(v.validate("Bearer " + k.token).ok());
    EXPECT_EQ(d.validate(k.token).status, 200);
  }
}

TEST(Daemon, AnUnreadableUpstreamFallsBackToTheSnapshot) {
  DaemonProcess d;
  MintedKey k = serve_one_key(d, "key_snap");
  ASSERT_EQ(d.stop(), 0);  // SIGTERM writes the snapshot
  shm::TableWriter::destroy(d.table);  // as after a reboot: no table
  ASSERT_EQ(unlink(d.keyset.c_str()), 0);
  d.start_ready();
  EXPECT_NE(d.log().find("from the snapshot"), std::string::npos) << d.log();
  EXPECT_EQ(d.validate(k.token).status, 200);
  auto status = nlohmann::json::parse(d.get("/v1/status").body);
  EXPECT_EQ(status["upstream"]["from_snapshot"], true);
}

TEST(Daemon, WatchdogAndStatusReachSystemd) {
  DaemonProcess d;
  d.write_keys({mint_key("key_wd").record});
  d.start_ready({"WATCHDOG_USEC=200000"});
  EXPECT_TRUE(d.wait_notify("WATCHDOG=1", 3000ms));
  bool status_seen = false;
  for (auto &n : d.notifications) status_seen |= n.find("STATUS=1 keys, revision") != std::string::npos;
  EXPECT_TRUE(status_seen);
}

TEST(Daemon, AKeyFromEdgekeyctlValidatesThenIsRevoked) {
  DaemonProcess d;
  d.write_keys({});
  d.start_ready();
  auto [rc, out] = ctl(d, {"--json", "keys", "create", "--workspace", "ws_ctl", "--type", "secret", "--env",
                           "live", "--role", "developer"});
  ASSERT_EQ(rc, 0) << out;
  auto created = nlohmann::json::parse(out);
  const std::string token = created["token"], id = created["id"];
  ASSERT_TRUE(eventually([&] { return d.validate(token).status == 200; })) << d.log();
  auto v = Validator::open(d.table.c_str());
  ASSERT_TRUE(v);
  EXPECT_STREQ(v.validate("Bearer " + token, {.permission = "agents:deploy"}).key_id, id.c_str());
  auto [vrc, vout] = ctl(d, {"validate", token, "--permission", "agents:deploy"});
  EXPECT_EQ(vrc, 0) << vout;
  auto [rrc, rout] = ctl(d, {"keys", "revoke", id});
  ASSERT_EQ(rrc, 0) << rout;
  ASSERT_TRUE(eventually([&] { return d.validate(token).status == 401; }));
  EXPECT_EQ(d.validate(token).header("X-Edgekey-Code").value_or(""), "revoked_key");
  EXPECT_EQ(v.validate("Bearer " + token).code, EK_CODE_REVOKED_KEY);
  EXPECT_EQ(ctl(d, {"validate", token}).first, 1);
  // Neither the daemon's log nor the keyset file holds the token.
  EXPECT_EQ(d.log().find(token), std::string::npos);
  std::string keyset;
  if (FILE *f = fopen(d.keyset.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) keyset.append(buf, n);
    fclose(f);
  }
  EXPECT_NE(keyset.find(id), std::string::npos);
  EXPECT_EQ(keyset.find(token), std::string::npos);
}

TEST(Daemon, AnEditAppliesOnlyWhatChangedAndABadVersionKeepsTheGoodOne) {
  DaemonProcess d;
  MintedKey a = mint_key("key_a"), b = mint_key("key_b"), c = mint_key("key_c");
  d.write_keys({a.record, b.record});
  d.start_ready();
  const auto generation = nlohmann::json::parse(d.get("/v1/status").body)["table"]["generation"];

  // key_b gets another role, key_c is new, key_a stays: two records applied in
  // place (the table's generation stays), nothing reloaded.
  b.record.role = "viewer";
  d.write_keys({a.record, b.record, c.record});
  ASSERT_TRUE(eventually([&] { return d.validate(c.token).status == 200; })) << d.log();
  EXPECT_EQ(d.validate(b.token, {"X-Edgekey-Permission: agents:deploy"}).status, 403);
  EXPECT_NE(d.log().find("keyset " + d.keyset + ": 2 changed, 0 removed"), std::string::npos) << d.log();
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/status").body)["table"]["generation"], generation);

  // key_a's new version does not parse (type admin, role viewer): it is
  // logged with its id and line, and the good version stays whole (still a
  // developer). key_c's removal in the same edit applies.
  std::string text = sync::emit_keyset_yaml({b.record});
  const int type_line = int(std::count(text.begin(), text.end(), '\n')) + 4;
  text += "  - id: key_a\n    hash: " + a.record.hash +
          "\n    workspace: ws_test\n    type: admin\n    env: live\n    role: viewer\n    status: active\n";
  DaemonProcess::write_file(d.keyset + ".tmp", text);
  ASSERT_EQ(rename((d.keyset + ".tmp").c_str(), d.keyset.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return d.validate(c.token).status == 401; })) << d.log();
  EXPECT_EQ(d.validate(c.token).header("X-Edgekey-Code").value_or(""), "unknown_key");
  const std::string log = d.log();
  EXPECT_NE(log.find("keyset " + d.keyset + ":" + std::to_string(type_line) +
                     ": key key_a: field \"type\": expected \"secret\" or \"publishable\", got \"admin\" "
                     "(its previous version stays)"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("keyset " + d.keyset + ": 0 changed, 1 removed"), std::string::npos) << log;
  HttpResponse r = d.validate(a.token, {"X-Edgekey-Permission: agents:deploy"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Edgekey-Role").value_or(""), "developer");
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/keys/key_a").body)["type"], "secret");
  EXPECT_EQ(nlohmann::json::parse(d.get("/v1/status").body)["table"]["generation"], generation);
}
