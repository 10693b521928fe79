// keyset_bench.cpp -- the embedded keyset (a YAML keyset file) at 100k and
// 1M keys (issue #21): edgekeyd's ready time and resident memory besides the
// shared table, edgekeyctl's time and memory per edit, and how long until
// the change is valid (or refused) through the library (ek_validate).
//
//   keyset_bench [--keys 100000,1000000] [--edits 100] [--dir DIR] [--parts N]
//   keyset_bench --generate N FILE     (only writes a keyset of N keys)
//   keyset_bench --parse FILE          (times parse_keyset_yaml alone)
// $EDGEKEYD and $EDGEKEYCTL name other binaries to measure (an older build);
// $EDGEKEY_BENCH_LOG_LEVEL=info and $EDGEKEY_BENCH_TRACE=1 (with --dir, kept)
// give each reload's time in DIR/edgekeyd.log and each edit's wall-clock times.
// --parts N: the keyset is a keyset directory (DIR/keys.d) of N parts
// keys-0001.yaml ... of about keys/N keys each, the layout edgekeyctl writes
// when new keys go to new parts; the same measurements, the same goals.
//
// Memory: "RSS besides the table" is the sum of Rss over edgekeyd's mappings
// in /proc/PID/smaps except the table's segments (/dev/shm/<table>*).
// edgekeyctl's is its peak (wait4's ru_maxrss). Goals (#21, 1M keys): ready
// <= 10 s, edgekeyd <= 1 GiB besides the table and flat over the edits,
// each edit <= 1 s, valid <= 1 s after it, edgekeyctl <= 512 MiB: checked
// at the end (exit 1 when a bound is exceeded, naming it).
#include "sync/record/keyset_file.hpp"

#include <edgekey/edgekey.h>

#include "../unix_http.hpp"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
// The binaries under test: the build's, or $EDGEKEYD / $EDGEKEYCTL (e.g. an older build to compare).
const char *edgekeyd_path() { const char *e = getenv("EDGEKEYD"); return e && *e ? e : EDGEKEYD_PATH; }
const char *edgekeyctl_path() { const char *e = getenv("EDGEKEYCTL"); return e && *e ? e : EDGEKEYCTL_PATH; }

// $EDGEKEY_BENCH_LOG_LEVEL: edgekeyd's log level (default warn; info logs each reload's time in DIR/edgekeyd.log).
const char *log_level() { const char *e = getenv("EDGEKEY_BENCH_LOG_LEVEL"); return e && *e ? e : "warn"; }
// $EDGEKEY_BENCH_TRACE=1: one line per edit with its wall-clock times, to match against edgekeyd's log.
bool trace() { const char *e = getenv("EDGEKEY_BENCH_TRACE"); return e && *e == '1'; }
double wall() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Records [begin, end) in the layout edgekeyctl writes, random hashes (no token behind them).
void generate(size_t begin, size_t end, const std::string &path, std::mt19937_64 &rng) {
  static const char *roles[] = {"developer", "viewer", "analyst", "owner"};
  FILE *f = fopen(path.c_str(), "w");
  if (!f) {
    perror(path.c_str());
    exit(2);
  }
  fputs("keys:\n", f);
  for (size_t i = begin; i < end; ++i) {
    uint64_t h[4] = {rng(), rng(), rng(), rng()};
    fprintf(f,
            "  - id: key_%010zu\n"
            "    hash: sha256:%016llx%016llx%016llx%016llx\n"
            "    workspace: ws_%zu\n"
            "    type: secret\n"
            "    env: %s\n"
            "    role: %s\n"
            "    scopes: []\n"
            "    regions: []\n"
            "    allowed_origins: []\n"
            "    allowed_cidrs: []\n"
            "    created_at: 2026-11-22T10:%02zu:%02zuZ\n"
            "    expires_at: null\n"
            "    status: active\n",
            i, (unsigned long long)h[0], (unsigned long long)h[1], (unsigned long long)h[2],
            (unsigned long long)h[3], i % 1000, i % 3 ? "live" : "test", roles[i % 4], (i / 60) % 60, i % 60);
  }
  if (fclose(f) != 0) {
    perror(path.c_str());
    exit(2);
  }
}

void generate(size_t n, const std::string &path, uint64_t seed) {
  std::mt19937_64 rng(seed);
  generate(0, n, path, rng);
}

// The same records as parts of the directory `dir`: keys-0001.yaml ... keys-NNNN.yaml.
void generate_parts(size_t n, size_t parts, const std::string &dir, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::filesystem::create_directories(dir);
  for (size_t p = 0; p < parts; ++p) {
    char name[32];
    snprintf(name, sizeof name, "/keys-%04zu.yaml", p + 1);
    generate(n * p / parts, n * (p + 1) / parts, dir + name, rng);
  }
}

// Sum of Rss (KiB) over pid's mappings, except those whose path contains `skip`.
long rss_besides(pid_t pid, const std::string &skip, long *skipped = nullptr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::string line;
  bool skipping = false;
  long kb = 0, other = 0;
  while (std::getline(in, line)) {
    if (line.compare(0, 4, "Rss:") == 0) {
      long v = std::strtol(line.c_str() + 4, nullptr, 10);
      (skipping ? other : kb) += v;
    } else if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
               line.find(' ') != std::string::npos && line.find('-') < line.find(' ')) {
      skipping = line.find(skip) != std::string::npos;  // a mapping's header line
    }
  }
  if (skipped) *skipped = other;
  return kb;
}

struct Run {
  int status = -1;
  std::string out;
  double seconds = 0;
  double cpu = 0;  // user + system seconds of the child
  long maxrss_kb = 0;
};

// Runs argv, capturing stdout; wall time and peak RSS of the child.
Run run(const std::vector<std::string> &args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) exit(2);
  Run r;
  const auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<char *> argv;
    for (auto &a : args) argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) r.out.append(buf, size_t(n));
  close(pipefd[0]);
  rusage ru{};
  int st = 0;
  wait4(pid, &st, 0, &ru);
  r.seconds = secs(Clock::now() - t0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  r.maxrss_kb = ru.ru_maxrss;
  r.cpu = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

std::string json_field(const std::string &json, const std::string &name) {
  const std::string k = "\"" + name + "\":";
  size_t p = json.find(k);
  if (p == std::string::npos) return "";
  p = json.find('"', p + k.size());
  size_t e = json.find('"', p + 1);
  return json.substr(p + 1, e - p - 1);
}

class Bench {
 public:
  Bench(std::string dir, size_t keys, size_t parts)
      : dir_(std::move(dir)), keys_(keys), parts_(parts), table_("ekbench-keyset-" + std::to_string(getpid())) {
    config_ = dir_ + "/edgekey.yaml";
    keyset_ = dir_ + (parts_ ? "/keys.d" : "/keys.yaml");
    socket_ = dir_ + "/edgekeyd.sock";
    std::ofstream(config_) << "region: in-mum\nkey_prefix: ek\ntable:\n  name: " << table_
                           << "\n  capacity: " << keys + keys / 4 << "\n  readers_group: \"\"\nsocket:\n  path: "
                           << socket_ << "\nupstream:\n  file: " << keyset_ << "\nsnapshot: " << dir_
                           << "/snapshot\nlog_level: " << log_level() << "\n";
  }
  ~Bench() {
    if (v_) ek_close(v_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    for (int g = 0; g < 4; ++g) unlink(("/dev/shm/" + table_ + (g ? ".g" + std::to_string(g) : "")).c_str());
    unlink(("/dev/shm/" + table_).c_str());
    std::error_code ec;  // edgekeyd's usage counts beside the table (#19)
    std::filesystem::remove_all("/dev/shm/" + table_ + ".usage", ec);
  }

  void generate_keyset() {
    const auto t0 = Clock::now();
    std::error_code ec;
    std::filesystem::remove_all(keyset_, ec);  // another size's, in a kept --dir
    if (parts_)
      generate_parts(keys_, parts_, keyset_, 42);
    else
      generate(keys_, keyset_, 42);
    printf("  generated %zu keys in %.1f s%s\n", keys_, secs(Clock::now() - t0),
           parts_ ? (" as " + std::to_string(parts_) + " parts of " + keyset_).c_str() : "");
  }

  // Starts edgekeyd; seconds until /readyz answers 200.
  double start() {
    const auto t0 = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);  // the bench killed: edgekeyd stops too (the table stays)
      const std::string log = dir_ + "/edgekeyd.log";  // not the bench's output
      if (FILE *f = fopen(log.c_str(), "a")) {
        dup2(fileno(f), 1);
        dup2(fileno(f), 2);
      }
      execl(edgekeyd_path(), "edgekeyd", "--config", config_.c_str(), (char *)nullptr);
      _exit(127);
    }
    for (;;) {
      if (ready()) return secs(Clock::now() - t0);
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        fprintf(stderr, "edgekeyd exited before it was ready\n");
        exit(2);
      }
      usleep(10000);
    }
  }

  bool ready() {
    int fd = edgekey::bench::connect_unix(socket_);
    if (fd < 0) return false;
    const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    std::string resp;
    bool ok = write(fd, req, sizeof req - 1) == ssize_t(sizeof req - 1) && edgekey::bench::read_response(fd, resp) &&
              resp.compare(0, 12, "HTTP/1.1 200") == 0;
    close(fd);
    return ok;
  }

  long rss_kb() { return rss_besides(pid_, "/dev/shm/" + table_); }
  // edgekeyd's peak RSS so far, the table's pages included (VmHWM).
  long peak_kb() {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.compare(0, 6, "VmHWM:") == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return 0;
  }

  Run ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {edgekeyctl_path(), "--config", config_, "--json"});
    Run r = run(args);
    if (r.status != 0) {
      fprintf(stderr, "edgekeyctl %s: exit %d\n", args[4].c_str(), r.status);
      exit(2);
    }
    return r;
  }

  // Seconds until the library answers `code` for `token`.
  double until(const std::string &token, const char *code) {
    const auto t0 = Clock::now();
    for (;;) {
      if (!v_) ek_open(table_.c_str(), &v_);
      if (v_) {
        ek_request q{};
        q.authorization = token.c_str();
        ek_result r{};
        if (ek_validate(v_, &q, &r) == 0 && std::strcmp(ek_code_name(r.code), code) == 0)
          return secs(Clock::now() - t0);
      }
      if (secs(Clock::now() - t0) > 120) {
        fprintf(stderr, "no %s for the edited key after 120 s\n", code);
        exit(2);
      }
      usleep(1000);
    }
  }

 private:
  std::string dir_;
  size_t keys_, parts_;
  std::string table_, config_, keyset_, socket_;
  pid_t pid_ = -1;
  ek_validator *v_ = nullptr;
};

struct Stats {
  std::vector<double> v;
  void add(double x) { v.push_back(x); }
  double median() {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
  }
  double max() const { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }
};

int bench(const std::string &dir, size_t keys, size_t parts, int edits, std::vector<std::string> &failures) {
  double load[1] = {0};
  getloadavg(load, 1);
  printf("%zu keys (load average %.1f: a busy host stretches the times, not the CPU):\n", keys, load[0]);
  fflush(stdout);
  Bench b(dir, keys, parts);
  b.generate_keyset();
  const double ready = b.start();
  const long rss0 = b.rss_kb();
  printf("  edgekeyd ready %.2f s, RSS besides the table %.0f MiB\n", ready, rss0 / 1024.0);
  fflush(stdout);
  const bool big = keys >= 1000000;
  auto check = [&](bool ok, const std::string &what) {
    if (!ok && big) failures.push_back(std::to_string(keys) + " keys: " + what);
  };
  check(ready <= 10, "ready " + std::to_string(ready) + " s > 10 s");

  Stats edit_s, valid_s, cpu_s;
  long ctl_rss = 0;
  auto one = [&](const char *what, Run r, const std::string &token, const char *code) {
    const double v = b.until(token, code);
    printf("  %-7s %.3f s (CPU %.3f s), edgekeyctl peak RSS %.0f MiB, %s through the library %.3f s after\n", what,
           r.seconds, r.cpu, r.maxrss_kb / 1024.0, code, v);
    fflush(stdout);
    edit_s.add(r.seconds);
    cpu_s.add(r.cpu);
    valid_s.add(v);
    ctl_rss = std::max(ctl_rss, r.maxrss_kb);
  };
  const std::vector<std::string> create = {"keys", "create", "--workspace", "ws_bench", "--type", "secret",
                                           "--env", "live", "--role", "developer"};
  Run c = b.ctl(create);
  const std::string id1 = json_field(c.out, "id"), tok1 = json_field(c.out, "token");
  one("create", c, tok1, "ok");
  one("revoke", b.ctl({"keys", "revoke", id1}), tok1, "revoked_key");
  Run c2 = b.ctl(create);
  b.until(json_field(c2.out, "token"), "ok");
  Run rot = b.ctl({"keys", "rotate", json_field(c2.out, "id"), "--grace", "1h"});
  one("rotate", rot, json_field(rot.out, "token"), "ok");

  std::vector<long> rss;
  rss.push_back(b.rss_kb());
  for (int i = 0; i < edits; ++i) {
    const double w0 = wall();
    Run e = b.ctl(create);
    const std::string tok = json_field(e.out, "token");
    edit_s.add(e.seconds);
    cpu_s.add(e.cpu);
    const double w1 = wall();
    valid_s.add(b.until(tok, "ok"));
    if (trace())
      printf("  edit %d: started %.3f, returned %.3f (%.3f s), valid %.3f (%.3f s after)\n", i, w0, w1, w1 - w0,
             wall(), wall() - w1);
    ctl_rss = std::max(ctl_rss, e.maxrss_kb);
    if ((i + 1) % 10 == 0) rss.push_back(b.rss_kb());
  }
  printf("  %d more creates: per edit median %.3f s max %.3f s (edgekeyctl CPU median %.3f s max %.3f s); valid "
         "after median %.3f s max %.3f s\n",
         edits, edit_s.median(), edit_s.max(), cpu_s.median(), cpu_s.max(), valid_s.median(), valid_s.max());
  printf("  edgekeyd RSS besides the table (MiB) after 3 edits, then every 10:");
  for (long k : rss) printf(" %.0f", k / 1024.0);
  getloadavg(load, 1);
  printf("\n  edgekeyd peak RSS %.0f MiB (the table and the snapshot's copy of the records included)\n",
         b.peak_kb() / 1024.0);
  printf("  edgekeyctl peak RSS %.0f MiB; load average now %.1f\n", ctl_rss / 1024.0, load[0]);
  fflush(stdout);
  const long top = *std::max_element(rss.begin(), rss.end());
  check(top <= 1024 * 1024, "edgekeyd RSS besides the table " + std::to_string(top / 1024) + " MiB > 1024");
  check(rss.back() <= rss.front() + rss.front() / 10 + 32 * 1024, "edgekeyd RSS grew over the edits");
  check(edit_s.max() <= 1, "an edit took " + std::to_string(edit_s.max()) + " s > 1 s");
  check(valid_s.max() <= 1, "a change was valid " + std::to_string(valid_s.max()) + " s after its edit > 1 s");
  check(ctl_rss <= 512 * 1024, "edgekeyctl peak RSS " + std::to_string(ctl_rss / 1024) + " MiB > 512");
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  // Output piped into `head` must not end the bench before ~Bench stops its
  // edgekeyd and removes the table; a write that fails is only output lost.
  signal(SIGPIPE, SIG_IGN);
  std::vector<size_t> sizes = {100000, 1000000};
  int edits = 100;
  size_t parts = 0;  // 0: a single keyset file
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--generate" && i + 2 < argc) {
      generate(std::stoul(argv[i + 1]), argv[i + 2], 42);
      return 0;
    } else if (a == "--parse" && i + 1 < argc) {
      const auto t0 = Clock::now();
      edgekey::sync::KeysetParse p = edgekey::sync::load_keyset_file(argv[i + 1]);
      const double s = secs(Clock::now() - t0);
      rusage ru{};
      getrusage(RUSAGE_SELF, &ru);
      printf("%zu records, %zu rejected in %.3f s, peak RSS %.0f MiB%s\n", p.records.size(), p.rejected.size(), s,
             ru.ru_maxrss / 1024.0, p.ok() ? "" : (" error: " + p.error).c_str());
      return p.ok() ? 0 : 1;
    } else if (a == "--keys" && i + 1 < argc) {
      sizes.clear();
      std::stringstream in(argv[++i]);
      for (std::string w; std::getline(in, w, ',');) sizes.push_back(std::stoul(w));
    } else if (a == "--edits" && i + 1 < argc) {
      edits = std::stoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--parts" && i + 1 < argc) {
      parts = std::stoul(argv[++i]);
    } else {
      fprintf(stderr, "usage: keyset_bench [--keys 100000,1000000] [--edits 100] [--dir DIR] [--parts N]\n"
                      "       keyset_bench --generate N FILE | --parse FILE\n");
      return 2;
    }
  }
  if (dir.empty()) {
    char tmpl[] = "/tmp/keyset_bench.XXXXXX";
    if (!mkdtemp(tmpl)) return 2;
    dir = tmpl;
  }
  std::vector<std::string> failures;
  for (size_t n : sizes) bench(dir, n, parts, edits, failures);
  for (const auto &f : failures) printf("GOAL MISSED: %s\n", f.c_str());
  return failures.empty() ? 0 : 1;
}
