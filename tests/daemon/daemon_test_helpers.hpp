// daemon_test_helpers.hpp -- what the edgekeyd end-to-end tests share beyond
// the fixture: running edgekeyctl and other processes, configs with socket
// settings, single requests, and reading logs and metrics.
#pragma once

#include "daemon_fixture.hpp"

#include <poll.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgekey::test {

// The 1-based number of the line of `text` holding `needle` (0 if none).
inline int line_number(const std::string &text, const std::string &needle) {
  const size_t at = text.find(needle);
  if (at == std::string::npos) return 0;
  return 1 + int(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n'));
}

struct Ran {
  int rc = -1;  // exit status; -1 if killed or timed out
  std::string out, err;
};

// Runs argv (argv[0] a path) with `env` added; collects stdout and stderr.
// A process still running after `limit` is killed (and fails the test).
inline Ran run_process(const std::vector<std::string> &argv, const std::vector<std::string> &env = {},
                std::chrono::milliseconds limit = 30000ms) {
  Ran r;
  int out[2], err[2];
  if (pipe(out) != 0) return r;
  if (pipe(err) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    for (auto &e : env) putenv(const_cast<char *>(e.c_str()));
    std::vector<char *> a;
    for (auto &s : argv) a.push_back(const_cast<char *>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  struct pollfd p[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << argv[0] << " still running after " << limit.count() << " ms";
      kill(pid, SIGKILL);
      break;
    }
    if (poll(p, 2, int(left.count())) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t n = read(p[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, size_t(n));
      } else {
        close(p[i].fd);
        p[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto &q : p)
    if (q.fd >= 0) close(q.fd);
  int st = 0;
  waitpid(pid, &st, 0);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  keep_log(std::filesystem::path(argv[0]).filename().string() + "-stderr", r.err);  // for tests/logscan
  return r;
}

// edgekeyd started (ready) on a keyset of one freshly minted key; that key.
inline MintedKey serve_one_key(DaemonProcess &d, const std::string &id, const std::string &role = "developer") {
  MintedKey k = mint_key(id, role);
  d.write_keys({k.record});
  d.start_ready();
  return k;
}

// Runs edgekeyctl with the daemon's config; returns its exit status and stdout.
inline std::pair<int, std::string> ctl(const DaemonProcess &d, const std::vector<std::string> &args) {
  std::vector<std::string> argv = {EDGEKEYCTL_PATH, "--config", d.config};
  argv.insert(argv.end(), args.begin(), args.end());
  Ran r = run_process(argv);
  return {r.rc, r.out};
}

// The fixture's config, with lines of our own under `socket:` (the fixture's
// extra text cannot add them: a second `socket:` is a duplicate key).
inline void write_config_with(DaemonProcess &d, const std::string &socket_lines, const std::string &extra) {
  DaemonProcess::write_file(d.config, "region: in-mum\nkey_prefix: ek\ntable:\n  name: " + d.table +
                                          "\n  capacity: 1024\n  readers_group: \"\"\nsocket:\n  path: " + d.socket +
                                          "\n" + socket_lines + "upstream:\n  file: " + d.keyset +
                                          "\nsnapshot: " + d.snapshot + "\n" + extra);
}

// One request on a fresh connection; its answer (nullopt: none). Retried while
// the daemon refuses the connection as over its limit (503 with Connection:
// close from the server itself): earlier connections may still be closing.
inline std::optional<HttpResponse> one_request(const DaemonProcess &d, const std::string &request) {
  std::optional<HttpResponse> r;
  eventually([&] {
    Client c(d.socket);
    if (!c.ok() || !c.send(request)) return false;
    r = c.read_response();
    return !(r && r->status == 503 && r->header("X-Edgekey-Code") == std::nullopt);
  });
  return r;
}

// A metric's sample line ("name{labels} value") is in the text.
inline bool has_sample(const std::string &metrics, const std::string &sample) {
  return metrics.find("\n" + sample + "\n") != std::string::npos;
}

// The value of a sample ("name{labels}"), or -1 when it is not there.
inline double sample_value(const std::string &metrics, const std::string &series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + at + series.size() + 2, nullptr);
}

inline size_t occurrences(const std::string &hay, const std::string &needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace edgekey::test
