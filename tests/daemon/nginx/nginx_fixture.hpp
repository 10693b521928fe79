// nginx_fixture.hpp -- the system's nginx as a test's child process (shared
// by tests/daemon/nginx, the auth_request example, and tests/nginx, the
// edgekey module and Lua binding): its files in a temp dir, its logs in
// EDGEKEY_TEST_LOG_DIR when set (for tests/logscan's token scan), two
// ReservedPorts (its server and a stand-in API), started and stopped by pid.
//
// nginx is a requirement of these tests, not an option: without it every
// case fails and says so. scripts/deps installs it; EDGEKEY_NGINX names
// another binary.
#pragma once

#include "daemon_fixture.hpp"
#include "spawn.hpp"
#include "test_ports.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace edgekey::test {

// nginx config lines passing the module's $edgekey_* variables to the
// upstream as X-Edgekey-* headers, as a user's proxy_set_header would.
inline constexpr const char *kForwardEdgekeyVariables =
    "      proxy_set_header X-Edgekey-Key-Id $edgekey_key_id;\n"
    "      proxy_set_header X-Edgekey-Workspace $edgekey_workspace;\n"
    "      proxy_set_header X-Edgekey-Role $edgekey_role;\n"
    "      proxy_set_header X-Edgekey-Type $edgekey_type;\n"
    "      proxy_set_header X-Edgekey-Env $edgekey_env;\n"
    "      proxy_set_header X-Edgekey-Status $edgekey_status;\n"
    "      proxy_set_header X-Edgekey-Code $edgekey_code;\n"
    "      proxy_set_header X-Edgekey-Expires-At $edgekey_expires_at;\n";

inline const char *nginx_path() {
  const char *p = getenv("EDGEKEY_NGINX");
  return p && *p ? p : "/usr/sbin/nginx";
}

inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback_address(port);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// One request on its own connection (Connection: close); the whole answer is
// read until nginx closes, with a deadline. `quiet`: no test failure when
// there is no answer (callers that count failures under load).
inline HttpResponse http_request(int port, const std::string &method, const std::string &target,
                                 const std::vector<std::string> &headers = {}, bool quiet = false) {
  int fd = connect_loopback(port);
  if (!quiet) {
    EXPECT_GE(fd, 0) << "cannot connect to nginx on 127.0.0.1:" << port;
  }
  if (fd < 0) return {};
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: api.test\r\n";
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
    if (!quiet) ADD_FAILURE() << e.what() << " in:\n" << rx;
  }
  if (!quiet) {
    EXPECT_TRUE(r.has_value()) << "no whole answer to " << target << "; got:\n" << rx;
  }
  return r.value_or(HttpResponse{});
}

// How many times `needle` occurs in `hay`.
inline size_t count_of(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// A response header's value, or "<none>".
inline std::string header(const HttpResponse &r, const char *name) { return r.header(name).value_or("<none>"); }

// The body as JSON (a test failure when it is not).
inline nlohmann::json json_of(const HttpResponse &r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
  return j;
}

inline std::string bearer(const MintedKey &k) { return "Authorization: Bearer " + k.token; }

inline HttpResponse http_get(int port, const std::string &target, const std::vector<std::string> &headers = {}) {
  return http_request(port, "GET", target, headers);
}

class NginxProcess {
 public:
  TempDir dir;
  ReservedPort port_hold, api_port_hold;
  const int port = port_hold.port();          // the server under test
  const int api_port = api_port_hold.port();  // the stand-in API
  pid_t pid = -1;
  std::vector<std::string> env;               // added to nginx's environment
  const std::string error_path = log_path_or("nginx-error", dir.file("error.log"));
  const std::string access_path = log_path_or("nginx-access", dir.file("access.log"));
  const std::string out_path = log_path_or("nginx-out", dir.file("nginx.out"));  // its stderr and stdout

  ~NginxProcess() { stop(); }

  std::string error_log() const { return read_text(error_path) + read_text(out_path); }

  // nginx.conf: `main` (load_module, ...) at the top, `workers` worker
  // processes, and an http block with `http` and the stand-in API: a server
  // answering every request 200 with what it received, as JSON (the
  // X-Edgekey-* request headers, the URI, X-Real-IP).
  void write_config(const std::string &http, const std::string &main = "", int workers = 1) {
    const std::string d = dir.path();
    std::string conf = main;
    // As root the workers would otherwise become nobody, who cannot enter
    // the temp dirs; as anyone else nginx runs as that user anyway.
    if (geteuid() == 0) conf += "user root;\n";
    conf += "worker_processes " + std::to_string(workers) + ";\nevents { worker_connections 256; }\nhttp {\n";
    conf += "  access_log " + access_path + ";\n";
    for (const char *t : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
      conf += std::string("  ") + t + "_temp_path " + d + "/" + t + "_temp;\n";
    conf += http;
    conf += "  server {\n    listen 127.0.0.1:" + std::to_string(api_port) +
            ";\n    default_type application/json;\n"
            "    return 200 '{\"api\":true,\"uri\":\"$request_uri\",\"key_id\":\"$http_x_edgekey_key_id\","
            "\"workspace\":\"$http_x_edgekey_workspace\",\"role\":\"$http_x_edgekey_role\","
            "\"type\":\"$http_x_edgekey_type\",\"env\":\"$http_x_edgekey_env\",\"real_ip\":\"$http_x_real_ip\","
            "\"status\":\"$http_x_edgekey_status\",\"code\":\"$http_x_edgekey_code\","
            "\"expires_at\":\"$http_x_edgekey_expires_at\"}';\n"
            "  }\n}\n";
    DaemonProcess::write_file(dir.file("nginx.conf"), conf);
  }

  // Starts nginx on the written config.
  void start() {
    ASSERT_EQ(access(nginx_path(), X_OK), 0)
        << "nginx not found at " << nginx_path()
        << ": this integration test needs it (scripts/deps installs it; EDGEKEY_NGINX names another binary)";
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

  // nginx -s reload: SIGHUP to the master; true once it has started
  // `workers` new worker processes on the (re-read) config.
  bool reload(int workers = 1) {
    const size_t before = count_of(error_log(), "start worker process ");
    if (pid <= 0 || kill(pid, SIGHUP) != 0) return false;
    return eventually(
        [&] { return count_of(error_log(), "start worker process ") >= before + size_t(workers); }, 10000ms);
  }

 private:
  // Starts nginx; true once both servers accept connections, false when it
  // exited first (`exited`) or the deadline passed.
  bool launch(bool &exited) {
    const std::string d = dir.path();
    const std::string globals = "daemon off; pid " + d + "/nginx.pid; error_log " + error_path + " info;";
    const std::string conf = dir.file("nginx.conf");
    SpawnOptions o;
    o.env = env;
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

// A refusal rendered by edgekey in front of the API: its status, its code in
// X-Edgekey-Code and both again as a JSON body; the API (whose echo has
// "api") not reached. nginx's error log is shown when the status differs.
inline void expect_edgekey_refusal(const HttpResponse &r, int status, const std::string &code,
                                   const NginxProcess &nginx) {
  EXPECT_EQ(r.status, status) << r.body << "\nnginx log:\n" << nginx.error_log();
  EXPECT_EQ(header(r, "X-Edgekey-Code"), code);
  EXPECT_EQ(header(r, "Content-Type"), "application/json");
  auto j = json_of(r);
  EXPECT_EQ(j.value("status", 0), status) << r.body;
  EXPECT_EQ(j.value("code", ""), code) << r.body;
  EXPECT_FALSE(j.contains("api")) << "the API was reached: " << r.body;
}

// The stand-in API answered (its echo has "api": true) and saw each of
// `fields` (X-Edgekey-* headers, uri, ...) with the value given.
inline void expect_api_saw(const HttpResponse &r, const std::vector<std::pair<std::string, std::string>> &fields) {
  auto j = json_of(r);
  EXPECT_EQ(j.value("api", false), true) << r.body;
  for (const auto &[name, value] : fields) EXPECT_EQ(j.value(name, "<absent>"), value) << name << " in " << r.body;
}

}  // namespace edgekey::test
