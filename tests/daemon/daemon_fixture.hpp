// daemon_fixture.hpp -- the real edgekeyd, started as a process for a test:
// a temp dir with its config, keyset and socket, a unique table name, its
// stderr captured to a file (in EDGEKEY_TEST_LOG_DIR when set, for
// tests/logscan's token scan; one file across restarts), and a NOTIFY_SOCKET
// the fixture listens on (so readiness is awaited through sd_notify, never a
// sleep). Stopped by pid.
#pragma once

#include "eventually.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "spawn.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/keyset_file.hpp"
#include "test_support.hpp"
#include "tests/logscan/test_log_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace edgekey::test {

using namespace std::chrono_literals;
using daemon::http::test::Client;
using daemon::http::test::HttpResponse;
using daemon::http::test::TempDir;

struct MintedKey {
  std::string token;
  sync::KeyRecord record;
};

inline MintedKey mint_key(const std::string &id, const std::string &role = "developer",
                          const char *type = "sk") {
  MintedKey k;
  k.token = shm::generate_token("ek", type, "live");
  std::array<uint8_t, 32> h;
  shm::TokenHasher().hash(k.token, h.data());
  k.record.id = id;
  k.record.hash = sync::format_record_hash(h, sync::HashScheme::Sha256);
  k.record.workspace = "ws_test";
  k.record.type = type[0] == 's' ? sync::KeyType::Secret : sync::KeyType::Publishable;
  k.record.role = role;
  if (type[0] == 'p') k.record.allowed_origins = {"https://app.example.com"};
  return k;
}

// The whole file at `path` ("" when it cannot be read).
inline std::string read_text(const std::string &path) {
  std::string s;
  if (FILE *f = fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    fclose(f);
  }
  return s;
}

class DaemonProcess {
 public:
  TempDir dir;
  std::string table, socket, keyset, config, snapshot, log_path, notify_path;
  std::string region = "in-mum";  // change, then write_config() again
  std::string table_directory;     // table.directory; "" = /dev/shm
  pid_t pid = -1;
  std::vector<std::string> notifications;  // every sd_notify datagram received

  // `upstream` replaces the default `upstream: file` block (e.g. a NATS one).
  explicit DaemonProcess(std::string extra_config = "", std::string upstream = "") {
    table = "ektest-d-" + std::to_string(getpid()) + "-" + std::to_string(counter()++);
    socket = dir.file("edgekeyd.sock");
    keyset = dir.file("keys.yaml");
    config = dir.file("edgekey.yaml");
    snapshot = dir.file("snapshot");
    log_path = log_path_or("edgekeyd", dir.file("edgekeyd.log"));
    notify_path = dir.file("notify.sock");
    upstream_ = std::move(upstream);
    write_config(extra_config);
    open_notify_socket();
  }
  ~DaemonProcess() {
    stop();
    if (notify_fd_ >= 0) ::close(notify_fd_);
    shm::TableWriter::destroy(table, table_directory);
  }

  // What readers open: the table's name, or its path in table_directory.
  std::string address() const { return shm::table_address(table_directory, table); }

  void write_config(const std::string &extra) {
    const std::string upstream = upstream_.empty() ? "upstream:\n  file: " + keyset + "\n" : upstream_;
    write_file(config, "region: " + region + "\nkey_prefix: ek\ntable:\n  name: " + table +
                           "\n  capacity: 1024\n  readers_group: \"\"\n" +
                           (table_directory.empty() ? "" : "  directory: " + table_directory + "\n") +
                           "socket:\n  path: " + socket + "\n" +
                           upstream + "snapshot: " + snapshot + "\n" + extra);
  }
  void write_keys(const std::vector<sync::KeyRecord> &records) { sync::save_keyset_file(keyset, records); }

  static void write_file(const std::string &path, const std::string &text) {
    FILE *f = fopen(path.c_str(), "w");
    ASSERT_NE(f, nullptr) << path;
    fputs(text.c_str(), f);
    fclose(f);
  }

  // Starts edgekeyd; `env` adds variables (e.g. WATCHDOG_USEC).
  void start(std::vector<std::string> env = {}) {
    notifications.clear();  // a restart must announce itself again
    SpawnOptions o;
    o.env = std::move(env);
    o.env.push_back("NOTIFY_SOCKET=" + notify_path);
    o.log_path = log_path;
    pid = spawn({EDGEKEYD_PATH, "--config", config}, o);
    ASSERT_GE(pid, 0) << "cannot start edgekeyd (log " << log_path << "): " << strerror(errno);
  }

  // Waits for a notification containing `what` ("READY=1"); false on timeout
  // or when the daemon exited first.
  bool wait_notify(const std::string &what, std::chrono::milliseconds limit = 10000ms) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (const auto &n : notifications)
      if (n.find(what) != std::string::npos) return true;
    while (std::chrono::steady_clock::now() < deadline) {
      struct pollfd p = {notify_fd_, POLLIN, 0};
      if (poll(&p, 1, 50) == 1) {
        char buf[4096];
        ssize_t n = recv(notify_fd_, buf, sizeof buf, 0);
        if (n > 0) {
          notifications.emplace_back(buf, size_t(n));
          if (notifications.back().find(what) != std::string::npos) return true;
        }
      } else if (pid > 0 && waitpid(pid, &status_, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
    }
    return false;
  }

  void start_ready(std::vector<std::string> env = {}) {
    start(std::move(env));
    ASSERT_TRUE(wait_notify("READY=1")) << "edgekeyd did not become ready; log:\n" << log();
  }

  // SIGTERM and wait, reading notifications meanwhile (a daemon blocked in
  // sd_notify on a full socket would never handle the signal); a daemon
  // still running after 30 s fails the test and is killed. Returns the exit
  // status (waitpid form).
  int stop(int sig = SIGTERM) {
    if (pid <= 0) return status_;
    kill(pid, sig);
    if (!wait_exit(30000ms)) {
      ADD_FAILURE() << "edgekeyd did not exit within 30 s of signal " << sig << "; log:\n" << log();
      kill(pid, SIGKILL);
      waitpid(pid, &status_, 0);
      pid = -1;
    }
    return status_;
  }
  int exit_status() const { return status_; }

  // Waits for the daemon to exit by itself (e.g. at a failpoint); false if it
  // still runs at the deadline. Its status is then exit_status(). Reads its
  // notifications meanwhile, so it never blocks in sd_notify on a full socket.
  bool wait_exit(std::chrono::milliseconds limit = 10000ms) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid > 0) {
      if (waitpid(pid, &status_, WNOHANG) == pid) {
        pid = -1;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      struct pollfd p = {notify_fd_, POLLIN, 0};
      if (poll(&p, 1, 1) == 1) {  // also the poll interval of the condition
        char buf[4096];
        ssize_t n = recv(notify_fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) notifications.emplace_back(buf, size_t(n));
      }
    }
    return true;
  }

  // Drops notifications a dead daemon sent before it died (call after it
  // exited, before the next start(), so a stale READY=1 is not taken for one).
  void drain_notify() {
    char buf[4096];
    while (recv(notify_fd_, buf, sizeof buf, MSG_DONTWAIT) > 0) {
    }
    notifications.clear();
  }

  std::string log() const { return read_text(log_path); }

  HttpResponse get(const std::string &target, const std::vector<std::string> &headers = {}) {
    Client c(socket);
    EXPECT_TRUE(c.ok()) << "cannot connect to " << socket;
    std::string req = "GET " + target + " HTTP/1.1\r\nHost: edgekey\r\n";
    for (auto &h : headers) req += h + "\r\n";
    req += "Connection: close\r\n\r\n";
    c.send(req);
    auto r = c.read_response();
    EXPECT_TRUE(r.has_value()) << "no answer to " << target;
    return r.value_or(HttpResponse{});
  }
  HttpResponse validate(const std::string &token, const std::vector<std::string> &more = {}) {
    std::vector<std::string> h = more;
    h.push_back("Authorization: Bearer " + token);
    return get("/v1/validate", h);
  }

 private:
  static int &counter() {
    static int n = 0;
    return n;
  }
  void open_notify_socket() {
    notify_fd_ = socket_fd();
    struct sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", notify_path.c_str());
    ASSERT_EQ(bind(notify_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  }
  static int socket_fd() { return ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0); }
  std::string upstream_;
  int notify_fd_ = -1;
  int status_ = 0;
};

// `n` keys with ids prefix0, prefix1, ..., each with `role`.
inline std::vector<MintedKey> mint_keys(const std::string &prefix, size_t n, const std::string &role = "developer") {
  std::vector<MintedKey> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.push_back(mint_key(prefix + std::to_string(i), role));
  return keys;
}

inline std::vector<sync::KeyRecord> records_of(const std::vector<MintedKey> &keys) {
  std::vector<sync::KeyRecord> out;
  out.reserve(keys.size());
  for (const auto &k : keys) out.push_back(k.record);
  return out;
}

// edgekeyd's /v1/status (an empty object when it does not answer). A notify
// socket that nobody reads fills up (STATUS= lines) and edgekeyd's sd_notify
// then blocks its loop: it is read first.
inline nlohmann::json status_of(DaemonProcess &d) {
  d.drain_notify();
  auto j = nlohmann::json::parse(d.get("/v1/status").body, nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace edgekey::test
