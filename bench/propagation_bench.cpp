// propagation_bench -- issue #4's two NATS figures, on loopback with real
// processes (an origin hub and two leaf regions from Debian's nats-server,
// one edgekeyd per region, the library reading each region's table):
//
//   BM_RevocationPropagation  1000 revocations at the origin; for each, the
//       time from the origin's put returning (what `edgekeyctl keys revoke`
//       waits for) to the key being refused through ek_validate in each
//       region. Counters: p50/p99/max in ms per region.
//   BM_ColdSnapshot           N keys (default 1M, --keys=N) in the origin
//       bucket, mirrored; a fresh edgekeyd starts with no snapshot: time from
//       exec to the last key validating through the library. Counter: keys/s.
//       Also how long the daemon's loop could not answer: the longest
//       GET /healthz round trip while it loads (loop_max_stall_ms); once the
//       last key validates, the wait for the loop to answer again
//       (loop_after_ready_ms: what it still does after publishing); the
//       longest round trip from then until the on-disk snapshot that
//       follows the load is written (snapshot_stall_ms); and the CPU each
//       edgekeyd thread and the nats-servers used until ready (printed,
//       /proc; 10 ms ticks).
//
// Run: build-rel/bench/propagation_bench [--keys=1000000] [--revocations=1000] [--runs=N]
// --runs=N: N cold starts on the same stream (each deletes the previous
// one's snapshot); a line per run, counters are medians.
// EDGEKEY_BENCH_WRAPPER="valgrind --tool=callgrind" runs edgekeyd under it;
// "A;B" alternates the runs between wrappers A and B (A/B comparisons of
// two edgekeyd builds: a wrapper script that execs the other binary).
#include "nats_servers.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/nats_streams.hpp"
#include "unix_http.hpp"

#include <benchmark/benchmark.h>
#include <edgekey/edgekey.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <openssl/rand.h>
#include <string>
#include <thread>
#include <vector>

using namespace edgekey;
using Clock = std::chrono::steady_clock;

namespace {

size_t g_keys = 1'000'000;
size_t g_revocations = 1000;
size_t g_runs = 1;  // cold starts per BM_ColdSnapshot (--runs=N)

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Minted {
  std::string token;
  sync::KeyRecord record;
};

Minted mint(const std::string &id) {
  Minted m;
  m.token = shm::generate_token("ek", "sk", "live");
  std::array<uint8_t, 32> h;
  shm::TokenHasher().hash(m.token, h.data());
  m.record.id = id;
  m.record.hash = sync::format_record_hash(h, sync::HashScheme::Sha256);
  m.record.workspace = "ws_bench";
  m.record.role = "developer";
  return m;
}

// One edgekeyd following a region; stopped (SIGTERM) and its table removed
// on destruction.
class EdgeDaemon {
 public:
  // `wrapper`: words run before the daemon's path (see the header); "" = none.
  EdgeDaemon(const test::NatsTopology &topo, const test::NatsServer &server, const std::string &region,
             const std::string &dir, size_t capacity, const std::string &wrapper = "")
      : table_("ekbench-prop-" + region + "-" + std::to_string(getpid())) {
    shm::TableWriter::destroy(table_);
    unlink((dir + "/" + region + ".snapshot").c_str());  // a previous run's: this start is cold
    const std::string config = dir + "/" + region + ".yaml";
    std::ofstream(config) << "region: " << region << "\nkey_prefix: ek\ntable:\n  name: " << table_
                          << "\n  capacity: " << capacity << "\n  readers_group: \"\"\nsocket:\n  path: " << dir
                          << "/" << region << ".sock\n"
                          << topo.upstream_yaml(server) << "snapshot: " << dir << "/" << region
                          << ".snapshot\nlog_level: info\n";
    socket_ = dir + "/" + region + ".sock";
    snapshot_ = dir + "/" + region + ".snapshot";
    started_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
      if (!wrapper.empty()) {
        std::vector<std::string> words;
        std::istringstream in(wrapper);
        for (std::string word; in >> word;) words.push_back(word);
        words.insert(words.end(), {EDGEKEYD_PATH, "--config", config});
        std::vector<char *> argv;
        for (auto &word : words) argv.push_back(word.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
      }
      execl(EDGEKEYD_PATH, "edgekeyd", "--config", config.c_str(), (char *)nullptr);
      _exit(127);
    }
  }
  ~EdgeDaemon() {
    if (v_) ek_close(v_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    shm::TableWriter::destroy(table_);
  }
  // The library's answer for `token` in this region ("" until the table exists).
  std::string code(const std::string &token) {
    if (!v_ && ek_open(table_.c_str(), &v_) != 0) return "";
    ek_request q{};
    q.authorization = token.c_str();
    ek_result r{};
    if (ek_validate(v_, &q, &r) != 0) return "";
    return ek_code_name(r.code);
  }
  // Polls until `token` answers `want`, every `every` (a busy poll would take
  // a core from the daemon on a 2-core host); false after `limit`.
  bool wait_for(const std::string &token, const char *want, std::chrono::seconds limit,
                std::chrono::microseconds every = std::chrono::microseconds(0)) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (code(token) == want) return true;
      if (every.count() > 0) std::this_thread::sleep_for(every);
      else std::this_thread::yield();
    }
    return false;
  }
  Clock::time_point started() const { return started_; }
  pid_t pid() const { return pid_; }
  const std::string &socket_path() const { return socket_; }
  const std::string &snapshot_path() const { return snapshot_; }

 private:
  std::string table_, socket_, snapshot_;
  pid_t pid_ = -1;
  ek_validator *v_ = nullptr;
  Clock::time_point started_;
};

class Origin {
 public:
  explicit Origin(const sync::NatsOptions &o) : client_(o, "bench-origin") {
    if (js_KeyValue(&kv_, client_.origin(), o.bucket.c_str()) != NATS_OK) throw std::runtime_error("no bucket");
  }
  ~Origin() { kvStore_Destroy(kv_); }
  void put(sync::KeyRecord r) {
    r.origin_written_at = now_ms();
    const std::string v = sync::encode_record_json(r);
    uint64_t rev = 0;
    if (kvStore_Put(&rev, kv_, r.id.c_str(), v.data(), int(v.size())) != NATS_OK)
      throw std::runtime_error("put " + r.id + " failed");
  }
  // Many puts without waiting for each acknowledgement (a bulk import).
  void put_many(const std::vector<sync::KeyRecord> &records) {
    for (const auto &r : records) {
      const std::string v = sync::encode_record_json(r);
      const std::string subject = "$KV.keys." + r.id;
      if (js_PublishAsync(client_.origin(), subject.c_str(), v.data(), int(v.size()), nullptr) != NATS_OK)
        throw std::runtime_error("publish " + r.id + " failed");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120'000;
    if (js_PublishAsyncComplete(client_.origin(), &po) != NATS_OK) throw std::runtime_error("bulk publish incomplete");
  }
  sync::NatsClient &client() { return client_; }

 private:
  sync::NatsClient client_;
  kvStore *kv_ = nullptr;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

void BM_RevocationPropagation(benchmark::State &state) {
  test::NatsTopology topo({"in", "us"});
  std::string why;
  if (!topo.start(&why)) return state.SkipWithError(why.c_str());
  Origin origin(topo.origin_options());
  std::vector<Minted> keys;
  for (size_t i = 0; i < g_revocations; ++i) {
    keys.push_back(mint("key_p" + std::to_string(i)));
    origin.put(keys.back().record);
  }
  EdgeDaemon in(topo, topo.region(0), "in-mum", topo.dir().path(), 4096);
  EdgeDaemon us(topo, topo.region(1), "us-east", topo.dir().path(), 4096);
  for (EdgeDaemon *d : {&in, &us})
    if (!d->wait_for(keys.back().token, "ok", std::chrono::seconds(30)))
      return state.SkipWithError("an edge daemon did not load the keys");

  std::vector<double> lat[2], put_ms;
  for (auto _ : state) {
    for (auto &k : keys) {
      sync::KeyRecord r = k.record;
      r.status = sync::KeyStatus::Revoked;
      r.revoked_at = now_ms() / 1000;
      const auto issued = Clock::now();
      origin.put(r);
      const auto t0 = Clock::now();  // the origin acknowledged: `keys revoke` returns here
      put_ms.push_back(std::chrono::duration<double, std::milli>(t0 - issued).count());
      bool seen[2] = {false, false};
      while (!(seen[0] && seen[1])) {
        for (int i = 0; i < 2; ++i)
          if (!seen[i] && (i == 0 ? in : us).code(k.token) == "revoked_key") {
            seen[i] = true;
            lat[i].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          }
        if (Clock::now() - t0 > std::chrono::seconds(10)) return state.SkipWithError("a revocation took > 10 s");
      }
    }
    state.SetIterationTime(1);
  }
  const char *names[2] = {"in", "us"};
  for (int i = 0; i < 2; ++i) {
    state.counters[std::string(names[i]) + "_p50_ms"] = percentile(lat[i], 0.50);
    state.counters[std::string(names[i]) + "_p99_ms"] = percentile(lat[i], 0.99);
    state.counters[std::string(names[i]) + "_max_ms"] = percentile(lat[i], 1.0);
  }
  state.counters["revocations"] = double(lat[0].size());
  // The origin's acknowledgement itself (issue -> `keys revoke` returns):
  // a region may refuse the key before it arrives, so add this for issue -> refused.
  state.counters["put_p50_ms"] = percentile(put_ms, 0.50);
  state.counters["put_p99_ms"] = percentile(put_ms, 0.99);
}

// CPU time (user + system, ms) of /proc/<pid>/task/<tid>/stat or /proc/<pid>/stat.
double stat_cpu_ms(const std::string &stat_path, std::string *comm = nullptr) {
  std::ifstream in(stat_path);
  std::string line;
  if (!std::getline(in, line)) return 0;
  const size_t open = line.find('('), close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return 0;
  if (comm) *comm = line.substr(open + 1, close - open - 1);
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // fields 14 and 15 (1-based)
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return double(utime + stime) * 1000.0 / double(sysconf(_SC_CLK_TCK));
}

// The nats-server processes this benchmark started: pid -> CPU ms.
std::map<pid_t, double> nats_server_cpu() {
  std::map<pid_t, double> out;
  DIR *d = opendir("/proc");
  if (!d) return out;
  while (dirent *e = readdir(d)) {
    const pid_t pid = pid_t(std::atoi(e->d_name));
    if (pid <= 0) continue;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line) || line.find("(nats-server)") == std::string::npos) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == getpid()) out[pid] = stat_cpu_ms("/proc/" + std::to_string(pid) + "/stat");
  }
  closedir(d);
  return out;
}

// One line: each edgekeyd thread's CPU until now, the daemon's peak RSS and
// the nats-servers' CPU since `servers_before`.
void print_thread_cpu(pid_t pid, const std::map<pid_t, double> &servers_before) {
  std::string out = "edgekeyd CPU ms by thread:";
  double total = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::string comm;
      const double ms = stat_cpu_ms(dir + "/" + e->d_name + "/stat", &comm);
      total += ms;
      if (ms > 0) out.append(" ").append(e->d_name).append(":").append(comm).append("=").append(std::to_string(int(ms)));
    }
    closedir(d);
  }
  out.append(" (total ").append(std::to_string(int(total))).append(")");
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmHWM:", 0) == 0) out.append(", peak RSS").append(line.substr(6));
  out.append("; nats-servers:");
  for (const auto &[p, ms] : nats_server_cpu()) {
    auto it = servers_before.find(p);
    out.append(" ").append(std::to_string(int(ms - (it == servers_before.end() ? 0 : it->second))));
  }
  fprintf(stderr, "%s\n", out.c_str());
}

// Round trips of GET /healthz to the daemon's loop, one at a time, on one
// keep-alive connection: the longest one is the longest the loop could not
// answer (plus one round trip). Runs until stop().
class LoopProbe {
 public:
  explicit LoopProbe(std::string socket) : socket_(std::move(socket)), thread_([this] { run(); }) {}
  ~LoopProbe() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  double max_ms() const { return max_ms_; }
  // The longest round trip since, and the number of round trips completed.
  double take_max_ms() { return max_ms_.exchange(0); }

 private:
  void run() {
    int fd = -1;
    std::string buf;
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: edgekey\r\n\r\n";
    while (!stop_) {
      if (fd < 0) fd = bench::connect_unix(socket_);
      if (fd < 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));  // not listening yet: poll
        continue;
      }
      const auto t0 = Clock::now();
      const bool ok = write(fd, req.data(), req.size()) == ssize_t(req.size()) && bench::read_response(fd, buf);
      // A connection the daemon closed after a stall (its request timeout)
      // still waited that long.
      max_ms_ = std::max(max_ms_.load(), std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!ok) {
        close(fd);
        fd = -1;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // pacing: one probe per 5 ms
    }
    if (fd >= 0) close(fd);
  }
  std::string socket_;
  std::atomic<bool> stop_{false};
  std::atomic<double> max_ms_{0};
  std::thread thread_;
};

// Time until the loop answers GET /healthz on a new connection (ms), -1 on failure.
double healthz_ms(const std::string &socket) {
  const auto t0 = Clock::now();
  int fd = bench::connect_unix(socket);
  if (fd < 0) return -1;
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: edgekey\r\nConnection: close\r\n\r\n";
  std::string buf;
  const bool ok = write(fd, req.data(), req.size()) == ssize_t(req.size()) && bench::read_response(fd, buf);
  close(fd);
  return ok ? std::chrono::duration<double, std::milli>(Clock::now() - t0).count() : -1;
}

struct ColdRun {
  double seconds = 0;             // exec -> the last key validates
  double load_stall_ms = 0;       // longest /healthz round trip until then
  double after_ready_ms = 0;      // then: until the loop answers
  double snapshot_stall_ms = -1;  // then: longest round trip until the snapshot is written; -1 = none in 30 s
};

// One cold start of edgekeyd on the region's stream. "" or why it failed.
std::string cold_run(test::NatsTopology &topo, const std::string &probe_token, const std::string &wrapper, ColdRun &c) {
  const auto servers_before = nats_server_cpu();
  EdgeDaemon d(topo, topo.region(0), "in-mum", topo.dir().path(), g_keys + g_keys / 4, wrapper);
  LoopProbe loop(d.socket_path());
  if (!d.wait_for(probe_token, "ok", std::chrono::minutes(5), std::chrono::milliseconds(1))) return "not loaded in 5 min";
  c.seconds = std::chrono::duration<double>(Clock::now() - d.started()).count();
  print_thread_cpu(d.pid(), servers_before);
  c.after_ready_ms = healthz_ms(d.socket_path());
  c.load_stall_ms = loop.take_max_ms();
  // The daemon writes its snapshot a second after the load (renamed into
  // place when complete): probe the loop until it is there.
  const auto snapshot_deadline = Clock::now() + std::chrono::seconds(30);
  while (access(d.snapshot_path().c_str(), F_OK) != 0 && Clock::now() < snapshot_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling for the file
  const bool written = access(d.snapshot_path().c_str(), F_OK) == 0;
  const double after_snapshot = healthz_ms(d.socket_path());
  loop.stop();
  if (written) c.snapshot_stall_ms = std::max(loop.max_ms(), after_snapshot);
  return "";
}

void BM_ColdSnapshot(benchmark::State &state) {
  test::NatsTopology topo({"in"});
  std::string why;
  if (!topo.start(&why)) return state.SkipWithError(why.c_str());
  Origin origin(topo.origin_options());
  // Random hashes for the bulk; one real key, written last, to detect the end.
  std::vector<sync::KeyRecord> records;
  records.reserve(g_keys);
  std::array<uint8_t, 32> h;
  Minted probe = mint("key_probe");
  for (size_t i = 0; i + 1 < g_keys; ++i) {
    RAND_bytes(h.data(), int(h.size()));
    sync::KeyRecord r = probe.record;
    r.id = "key_b" + std::to_string(i);
    r.hash = sync::format_record_hash(h, sync::HashScheme::Sha256);
    r.name = "bulk key " + std::to_string(i);
    r.scopes = {"agents:read"};
    records.push_back(std::move(r));
  }
  records.push_back(probe.record);
  origin.put_many(records);
  // Wait for the region's mirror to hold everything.
  sync::NatsOptions ro = topo.options(topo.region(0));
  sync::NatsClient region(ro, "bench-region");
  const auto deadline = Clock::now() + std::chrono::minutes(5);
  while (sync::region_stream_state(region, ro).last_seq < g_keys) {
    if (Clock::now() > deadline) return state.SkipWithError("the mirror did not catch up");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the mirror's state
  }
  // Runs alternate between the wrappers (A/B comparisons on one stream).
  std::vector<std::string> wrappers;
  {
    std::string list = getenv("EDGEKEY_BENCH_WRAPPER") ? getenv("EDGEKEY_BENCH_WRAPPER") : "";
    for (size_t from = 0;;) {
      const size_t semi = list.find(';', from);
      wrappers.push_back(list.substr(from, semi == std::string::npos ? std::string::npos : semi - from));
      if (semi == std::string::npos) break;
      from = semi + 1;
    }
  }
  std::vector<std::vector<ColdRun>> runs(wrappers.size());
  for (auto _ : state) {
    for (size_t r = 0; r < g_runs; ++r) {
      for (size_t w = 0; w < wrappers.size(); ++w) {
        ColdRun c;
        std::string why = cold_run(topo, probe.token, wrappers[w], c);
        if (!why.empty()) return state.SkipWithError(why.c_str());
        fprintf(stderr, "cold run %zu%s%s: %.0f keys/s, loop stalls %.0f ms while loading, %.0f ms after ready, %s\n", r + 1,
                wrappers[w].empty() ? "" : " with ", wrappers[w].c_str(), double(g_keys) / c.seconds, c.load_stall_ms,
                c.after_ready_ms, c.snapshot_stall_ms < 0 ? "no snapshot within 30 s" : ("snapshot write " + std::to_string(int(c.snapshot_stall_ms)) + " ms").c_str());
        runs[w].push_back(c);
      }
    }
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    for (size_t w = 0; w < wrappers.size(); ++w) {
      std::vector<double> kps, stall, snap;
      for (const auto &c : runs[w]) {
        kps.push_back(double(g_keys) / c.seconds);
        stall.push_back(std::max(c.load_stall_ms, c.after_ready_ms));
        snap.push_back(c.snapshot_stall_ms);
      }
      std::sort(kps.begin(), kps.end());
      fprintf(stderr, "cold runs%s%s: keys/s median %.0f (min %.0f, max %.0f, %zu runs), loop stall median %.0f ms\n",
              wrappers[w].empty() ? "" : " with ", wrappers[w].c_str(), median(kps), kps.front(), kps.back(), kps.size(),
              median(stall));
      if (w != 0) continue;  // the counters are the first wrapper's
      state.SetIterationTime(median(kps) > 0 ? double(g_keys) / median(kps) : 0);
      state.counters["keys"] = double(g_keys);
      state.counters["runs"] = double(kps.size());
      state.counters["keys_per_s"] = median(kps);
      state.counters["loop_max_stall_ms"] = median(stall);
      state.counters["snapshot_stall_ms"] = median(snap);
    }
  }
}

}  // namespace

BENCHMARK(BM_RevocationPropagation)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ColdSnapshot)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

int main(int argc, char **argv) {
  std::vector<char *> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--keys=", 7) == 0) g_keys = std::max<size_t>(2, std::stoull(argv[i] + 7));
    else if (std::strncmp(argv[i], "--revocations=", 14) == 0) g_revocations = std::max<size_t>(1, std::stoull(argv[i] + 14));
    else if (std::strncmp(argv[i], "--runs=", 7) == 0) g_runs = std::max<size_t>(1, std::stoull(argv[i] + 7));
    else rest.push_back(argv[i]);
  }
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
