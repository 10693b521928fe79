// nginx in front of edgekeyd, for real: the shipped examples/nginx/edgekey.conf
// (only its socket path, listen port and API address substituted) run by the
// system's nginx on 127.0.0.1, auth_request going to a real edgekeyd over its
// Unix socket, and a second nginx server block standing in for the API and
// echoing the X-Edgekey-* request headers it received.
//
// nginx is a requirement of this test, not an option: without it (or without
// its auth_request module) every case fails and says so. scripts/deps
// installs it; EDGEKEY_NGINX names another binary.
#include "daemon_fixture.hpp"
#include "spawn.hpp"
#include "test_ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

using namespace edgekey;
using namespace edgekey::test;

namespace {

const char *nginx_path() {
  const char *p = getenv("EDGEKEY_NGINX");
  return p && *p ? p : "/usr/sbin/nginx";
}

std::string read_text(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Replaces the one occurrence of `from`; false (and a test failure naming it)
// when the example no longer has exactly one.
bool substitute_once(std::string &text, const std::string &from, const std::string &to) {
  const size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    ADD_FAILURE() << "examples/nginx/edgekey.conf should hold `" << from
                  << "` exactly once (the test substitutes it); update the test with the example";
    return false;
  }
  text.replace(at, from.size(), to);
  return true;
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback_address(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// One request on its own connection (Connection: close); the whole answer is
// read until nginx closes, with a deadline.
HttpResponse http_get(int port, const std::string &target, const std::vector<std::string> &headers = {}) {
  int fd = connect_loopback(port);
  EXPECT_GE(fd, 0) << "cannot connect to nginx on 127.0.0.1:" << port;
  if (fd < 0) return {};
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: api.test\r\n";
  for (const auto &h : headers) req += h + "\r\n";
  req += "Connection: close\r\n\r\n";
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += size_t(n);
  }
  std::string rx;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) != 1) break;
    char buf[8192];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    rx.append(buf, size_t(n));
  }
  ::close(fd);
  std::optional<HttpResponse> r;
  try {
    r = daemon::http::test::take_response(rx);
  } catch (const std::exception &e) {
    ADD_FAILURE() << e.what() << " in:\n" << rx;
  }
  EXPECT_TRUE(r.has_value()) << "no whole answer to " << target << "; got:\n" << rx;
  return r.value_or(HttpResponse{});
}

// The system's nginx as a child process (daemon off), its files in a temp dir
// (its logs in EDGEKEY_TEST_LOG_DIR when set, for tests/logscan's token
// scan), stopped by pid.
class NginxProcess {
 public:
  TempDir dir;
  ReservedPort port_hold, api_port_hold;
  const int port = port_hold.port();          // the example's server
  const int api_port = api_port_hold.port();  // the stand-in API
  pid_t pid = -1;
  const std::string error_path = log_path_or("nginx-error", dir.file("error.log"));
  const std::string access_path = log_path_or("nginx-access", dir.file("access.log"));
  const std::string out_path = log_path_or("nginx-out", dir.file("nginx.out"));  // its stderr and stdout

  ~NginxProcess() { stop(); }

  std::string error_log() const { return read_text(error_path) + read_text(out_path); }

  // The example, pointed at this test's socket and ports, and a main config
  // including it.
  void configure(const std::string &edgekeyd_socket) {
    std::string site = read_text(EDGEKEY_NGINX_EXAMPLE);
    ASSERT_FALSE(site.empty()) << "cannot read " << EDGEKEY_NGINX_EXAMPLE;
    ASSERT_TRUE(substitute_once(site, "proxy_pass http://unix:/run/edgekey/edgekeyd.sock:/v1/validate;",
                                "proxy_pass http://unix:" + edgekeyd_socket + ":/v1/validate;"));
    ASSERT_TRUE(substitute_once(site, "listen 80;", "listen 127.0.0.1:" + std::to_string(port) + ";"));
    ASSERT_TRUE(substitute_once(site, "server 127.0.0.1:8080;", "server 127.0.0.1:" + std::to_string(api_port) + ";"));
    DaemonProcess::write_file(dir.file("edgekey.conf"), site);

    const std::string d = dir.path();
    std::string conf;
    // As root the workers would otherwise become nobody, who cannot enter
    // the temp dirs; as anyone else nginx runs as that user anyway.
    if (geteuid() == 0) conf += "user root;\n";
    conf += "worker_processes 1;\nevents { worker_connections 64; }\nhttp {\n";
    conf += "  access_log " + access_path + ";\n";
    for (const char *t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
      conf += std::string("  ") + t + "_temp_path " + d + "/" + t + "_temp;\n";
    conf += "  include " + d + "/edgekey.conf;\n";
    // The API: what it received, as JSON.
    conf += "  server {\n    listen 127.0.0.1:" + std::to_string(api_port) +
            ";\n    default_type application/json;\n"
            "    return 200 '{\"api\":true,\"uri\":\"$request_uri\",\"key_id\":\"$http_x_edgekey_key_id\","
            "\"workspace\":\"$http_x_edgekey_workspace\",\"role\":\"$http_x_edgekey_role\","
            "\"type\":\"$http_x_edgekey_type\",\"env\":\"$http_x_edgekey_env\",\"real_ip\":\"$http_x_real_ip\"}';\n"
            "  }\n}\n";
    DaemonProcess::write_file(dir.file("nginx.conf"), conf);
  }

  // Configures and starts nginx.
  void start(const std::string &edgekeyd_socket) {
    ASSERT_EQ(access(nginx_path(), X_OK), 0)
        << "nginx not found at " << nginx_path()
        << ": this integration test needs it (scripts/deps installs it; EDGEKEY_NGINX names another binary)";
    ASSERT_NO_FATAL_FAILURE(configure(edgekeyd_socket));
    bool exited = false;
    ASSERT_TRUE(launch(exited)) << "nginx did not start listening on 127.0.0.1:" << port << " and :" << api_port
                                << (exited ? " (it exited)" : "") << "; its log:\n"
                                << error_log();
  }

  void stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);  // fast shutdown: the master stops its workers and exits
    int status;
    waitpid(pid, &status, 0);
    pid = -1;
  }

 private:
  // Starts nginx; true once both servers accept connections, false when it
  // exited first (`exited`) or the deadline passed.
  bool launch(bool &exited) {
    const std::string d = dir.path();
    const std::string globals = "daemon off; pid " + d + "/nginx.pid; error_log " + error_path + " info;";
    const std::string conf = dir.file("nginx.conf");
    SpawnOptions o;
    o.log_path = out_path;
    o.stdout_to_log = true;
    o.die_with_parent = true;  // no nginx outlives a crashed test
    pid = spawn({nginx_path(), "-p", d, "-c", conf, "-g", globals}, o);
    if (pid < 0) return false;
    // Ready once both servers accept connections (the master binds every
    // listen socket before it starts a worker, and connections wait in the
    // backlog for one).
    exited = false;
    const bool ready = eventually(
        [&] {
          int status;
          if (waitpid(pid, &status, WNOHANG) == pid) {
            pid = -1;
            exited = true;
            return true;
          }
          for (int p : {port, api_port}) {
            int fd = connect_loopback(p);
            if (fd < 0) return false;
            ::close(fd);
          }
          return true;
        },
        10000ms);
    return ready && !exited;
  }
};

std::string header(const HttpResponse &r, const char *name) { return r.header(name).value_or("<none>"); }

nlohmann::json json_body(const HttpResponse &r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
  return j;
}

class NginxAuthRequest : public ::testing::Test {
 protected:
  MintedKey dev = mint_key("key_dev", "developer");        // chat:write, agents:deploy
  MintedKey analyst = mint_key("key_analyst", "analyst");  // neither
  MintedKey revoked = mint_key("key_revoked", "developer");
  MintedKey pub = mint_key("key_pub", "developer", "pk");      // chat:write, from app.example.com
  MintedKey stranger = mint_key("key_stranger", "developer");  // not in the keyset
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<NginxProcess> nginx;  // declared after daemon: stopped first

  void start(const std::string &daemon_extra = "") {
    revoked.record.status = sync::KeyStatus::Revoked;
    revoked.record.revoked_at = int64_t(time(nullptr)) - 60;
    daemon = std::make_unique<DaemonProcess>(daemon_extra);
    daemon->write_keys({dev.record, analyst.record, revoked.record, pub.record});
    ASSERT_NO_FATAL_FAILURE(daemon->start_ready());
    nginx = std::make_unique<NginxProcess>();
    ASSERT_NO_FATAL_FAILURE(nginx->start(daemon->socket));
  }
  virtual std::string daemon_config() const { return ""; }
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(start(daemon_config())); }

  HttpResponse get(const std::string &target, const std::vector<std::string> &headers = {}) {
    return http_get(nginx->port, target, headers);
  }
  static std::string bearer(const MintedKey &k) { return "Authorization: Bearer " + k.token; }

  // A refusal as the example renders it: edgekey's status and code, in the
  // header and as a JSON body, and no API involved.
  void expect_refusal(const HttpResponse &r, int status, const std::string &code) {
    EXPECT_EQ(r.status, status) << r.body << "\nnginx log:\n" << nginx->error_log();
    EXPECT_EQ(header(r, "X-Edgekey-Code"), code);
    EXPECT_EQ(header(r, "Content-Type"), "application/json");
    auto j = json_body(r);
    EXPECT_EQ(j.value("status", 0), status) << r.body;
    EXPECT_EQ(j.value("code", ""), code) << r.body;
    EXPECT_FALSE(j.contains("api")) << "the API was reached: " << r.body;
  }
};

TEST_F(NginxAuthRequest, AGoodKeyReachesTheApiWhichSeesWhoCalled) {
  for (const char *path : {"/v1/chat/completions", "/v1/agents/deploy", "/v1/anything"}) {
    SCOPED_TRACE(path);
    // Identity headers a client sends are replaced by edgekey's.
    HttpResponse r = get(path, {bearer(dev), "X-Edgekey-Key-Id: key_forged", "X-Edgekey-Role: owner"});
    ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
    auto j = json_body(r);
    EXPECT_EQ(j.value("api", false), true) << r.body;
    EXPECT_EQ(j.value("uri", ""), path);
    EXPECT_EQ(j.value("key_id", ""), "key_dev");
    EXPECT_EQ(j.value("workspace", ""), "ws_test");
    EXPECT_EQ(j.value("role", ""), "developer");
    EXPECT_EQ(j.value("type", ""), "secret");
    EXPECT_EQ(j.value("env", ""), "live");
    EXPECT_EQ(j.value("real_ip", ""), "127.0.0.1");
  }
}

TEST_F(NginxAuthRequest, NoKeyOrAnUnusableOneIs401WithEdgekeysCode) {
  HttpResponse r = get("/v1/chat");
  expect_refusal(r, 401, "missing_token");
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
  expect_refusal(get("/v1/chat", {bearer(stranger)}), 401, "unknown_key");
  expect_refusal(get("/v1/anything", {"Authorization: Bearer ek_sk_live_nonsense"}), 401, "malformed_token");
  // A forged identity does not stand in for a key.
  expect_refusal(get("/v1/anything", {"X-Edgekey-Key-Id: key_dev"}), 401, "missing_token");
}

TEST_F(NginxAuthRequest, ARevokedKeyIs401RevokedKey) {
  expect_refusal(get("/v1/chat", {bearer(revoked)}), 401, "revoked_key");
  expect_refusal(get("/v1/anything", {bearer(revoked)}), 401, "revoked_key");
}

TEST_F(NginxAuthRequest, EachLocationAsksForItsOwnPermission) {
  expect_refusal(get("/v1/chat", {bearer(analyst)}), 403, "insufficient_permission");
  expect_refusal(get("/v1/agents/deploy", {bearer(analyst)}), 403, "insufficient_permission");
  // A client cannot choose the permission it is checked for.
  expect_refusal(get("/v1/agents/deploy", {bearer(analyst), "X-Edgekey-Permission: agents:read"}), 403,
                 "insufficient_permission");
  // "/" needs any valid key.
  HttpResponse r = get("/v1/evaluations", {bearer(analyst)});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_body(r).value("key_id", ""), "key_analyst");
}

TEST_F(NginxAuthRequest, APublishableKeyOnlyFromItsOriginsAndOnlyForWhatIsPublishable) {
  expect_refusal(get("/v1/chat", {bearer(pub), "Origin: https://evil.example.com"}), 403, "origin_not_allowed");
  expect_refusal(get("/v1/chat", {bearer(pub)}), 403, "origin_not_allowed");  // no Origin at all
  HttpResponse r = get("/v1/chat", {bearer(pub), "Origin: https://app.example.com"});
  EXPECT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
  EXPECT_EQ(json_body(r).value("type", ""), "publishable");
  expect_refusal(get("/v1/agents/deploy", {bearer(pub), "Origin: https://app.example.com"}), 403,
                 "insufficient_permission");
}

// edgekeyd answers 503 keyset_stale (fail_closed, its upstream unreadable for
// longer than staleness.max); nginx's auth_request makes that a 500, and the
// example's @edgekey_500 a 503 with edgekeyd's code again.
class NginxAuthRequestFailClosed : public NginxAuthRequest {
  std::string daemon_config() const override { return "staleness:\n  max: 1s\n  policy: fail_closed\n"; }
};

TEST_F(NginxAuthRequestFailClosed, AStaleKeysetIs503KeysetStale) {
  ASSERT_EQ(get("/v1/chat", {bearer(dev)}).status, 200) << nginx->error_log();

  DaemonProcess::write_file(daemon->keyset, "keys: [\n");  // unreadable: no more upstream contact
  ASSERT_TRUE(eventually([&] { return daemon->validate(dev.token).status == 503; }, 15000ms))
      << "edgekeyd never went stale; its log:\n"
      << daemon->log();
  EXPECT_EQ(header(daemon->validate(dev.token), "X-Edgekey-Code"), "keyset_stale");

  HttpResponse r = get("/v1/chat", {bearer(dev)});
  expect_refusal(r, 503, "keyset_stale");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(nginx->error_log().find("auth request unexpected status: 503"), std::string::npos) << nginx->error_log();
}

// No edgekeyd behind the socket: the subrequest fails with 502, auth_request
// makes it a 500, the example a 503 edgekey_unreachable. Never the API.
TEST_F(NginxAuthRequest, AnUnreachableDaemonIs503EdgekeyUnreachable) {
  ASSERT_EQ(get("/v1/chat", {bearer(dev)}).status, 200) << nginx->error_log();
  daemon->stop(SIGKILL);
  HttpResponse r = get("/v1/chat", {bearer(dev)});
  expect_refusal(r, 503, "edgekey_unreachable");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(nginx->error_log().find("auth request unexpected status: 502"), std::string::npos) << nginx->error_log();
}

}  // namespace
