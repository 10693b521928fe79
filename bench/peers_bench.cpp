// peers_bench -- edgekey side by side with the stores a gateway could use
// instead, in one process run and on the same key set.
//
// N keys (default 1M), stored as SHA-256(token). The workload is a shuffled
// list of tokens, half of keys in the set and half unknown (well-formed,
// valid checksum). Every peer does a gateway's whole job per request: hash
// the token with the same hasher, look the hash up, take the record:
//   edgekey   ek_validate on a table built with shm::TableWriter (the public API)
//   edgekey-2m  the same with the table in 2 MiB pages, where the host gives
//             /dev/shm huge pages, or in the hugetlbfs directory --hugetlbfs
//             names (skipped, saying why, elsewhere)
//   floor     SHA-256 + linear probe in a plain in-process array of 128-byte
//             slots of the table's capacity (validate_bench's floor, plus an
//             empty-slot stop for the misses)
//   lmdb      mdb_get in a reused MDB_RDONLY txn (mdb_txn_renew/reset per request)
//   boost     boost::unordered_map in managed_shared_memory, lock_sharable
//   redis     GET over a Unix socket (hiredis) to a redis-server the bench starts
//   edgekeyd  GET /v1/validate over edgekeyd's Unix socket (the real binary,
//             on a YAML keyset of the first 100k keys: see --socket-keys)
// Every peer is measured two ways, by the same loop (run_peer):
//   latency     one request at a time: an lfence after each request, so no
//               instruction of the next one starts before every instruction
//               of this one (its loads included) has completed, as in a
//               server, where thousands of instructions and system calls lie
//               between two lookups. Why an lfence and not a chain through
//               the answer's data: a miss's answer (edgekey's homes word, the
//               floor's empty slot, LMDB's MDB_NOTFOUND) is a constant picked
//               by a branch the CPU predicts before the load returns, so such
//               a chain leaves misses overlapped, by a different amount for
//               each peer; the lfence holds every peer alike, whatever its
//               insides. (lfence is dispatch-serializing on Intel and on AMD
//               since Zen 2.) A software prefetch a request issued may still
//               be in flight after it: overlap within the request's own work.
//   throughput  back to back: the next request's index depends on the
//               previous answer only through predicted branches, so the CPU
//               overlaps consecutive requests' cache misses as far as its
//               window allows. No server gets that overlap; this is the most
//               requests one thread could answer, not one request's time.
// Each benchmark runs at 1 and 2 threads, 5 repetitions taken in random
// order among all the peers' and both modes' (random interleaving), so that
// a slow minute on a shared host falls on every peer alike; the table
// reports the median: ns per request per thread, requests/s of all threads,
// and the ratio peer ns / edgekey ns at the same thread count and mode, and
// for each target how many of the repetitions (edgekey's k-th against the
// peer's k-th) meet it.
//
//   peers_bench                          # 1M keys
//   peers_bench --sizes=1000000,10000000 # also 10M (~10 GiB of memory, ~5 min more)
//   peers_bench --out=bench/results      # also peers.md, peers.csv, peers.gp, peers.png
//   peers_bench --peers=edgekey,floor,lmdb,boost,redis,edgekeyd
//   peers_bench --modes=latency          # one of the two modes (default both)
//   peers_bench --only=hits              # diagnostic: a workload of hits (or misses) only,
//                                        # or --only=alternating: hit, miss, hit, ...
//   peers_bench --hugetlbfs=/dev/hugepages  # edgekey-2m in hugetlbfs (table.directory), not THP
//   peers_bench --uncounted              # edgekey's validators without usage counting (as
//                                        # before issue #19), to compare builds across it
//   peers_bench --socket-keys=0          # edgekeyd serves all N keys (default: the first 100k;
//                                        # 1M keys through its YAML keyset: ~160 s, ~9 GiB)
#include "peers/peers.hpp"
#include "peers/report.hpp"
#include "shm/src/generation.hpp"
#include "shm/src/huge_pages.hpp"
#include "shm/src/table_view.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <benchmark/benchmark.h>
#include <edgekey/edgekey.h>
#include <signal.h>
#include <unistd.h>

#include <x86intrin.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>

using namespace edgekey;
using namespace edgekey::bench;

// ---- cleanups (peers.hpp) ----
namespace edgekey::bench {
namespace {
std::mutex g_cleanup_mu;
std::map<int, std::function<void()>> g_cleanups;
int g_cleanup_next = 0;
void run_cleanups() {
  std::map<int, std::function<void()>> all;
  {
    std::lock_guard lock(g_cleanup_mu);
    all.swap(g_cleanups);
  }
  for (auto it = all.rbegin(); it != all.rend(); ++it) it->second();
}
void on_signal(int sig) {
  run_cleanups();
  _exit(128 + sig);
}
}  // namespace
int add_cleanup(std::function<void()> fn) {
  std::lock_guard lock(g_cleanup_mu);
  g_cleanups[g_cleanup_next] = std::move(fn);
  return g_cleanup_next++;
}
void remove_cleanup(int id) {
  std::lock_guard lock(g_cleanup_mu);
  g_cleanups.erase(id);
}
void fatal(const char *msg) {
  fprintf(stderr, "peers_bench: %s\n", msg);
  exit(1);
}
std::string run_tag() { return "ekpeers-" + std::to_string(getpid()); }
}  // namespace edgekey::bench

namespace {

constexpr size_t kWorkload = 1 << 20;  // tokens per workload (half hits, half misses), at most
std::vector<int64_t> g_sizes = {1'000'000};
// edgekeyd reads its keyset from YAML: 1M keys take it ~160 s and ~9 GiB
// (yaml-cpp), so by default it serves the first 100k keys; its round trip
// is the socket's, not the table's (13.8 us at 1M keys, as at 10k).
int64_t g_socket_keys = 100'000;  // 0 = all keys
std::string g_out, g_edgekeyd = EDGEKEYD_PATH, g_command;
// "", or a diagnostic workload: "hits" or "misses" only, or "alternating"
// (hit, miss, hit, ...: the same tokens, in an order a branch predictor
// learns, which shows what the shuffled mix's unpredictable answers cost).
std::string g_only;
bool g_uncounted = false;  // --uncounted: ek_set_counting(v, 0) on edgekey's validators
std::string g_hugetlbfs;  // --hugetlbfs: edgekey-2m's table.directory ("" = THP on /dev/shm)
std::vector<std::string> g_peers = {"edgekey", "edgekey-2m", "floor", "lmdb", "boost", "redis", "edgekeyd"};
std::vector<std::string> g_modes = {"latency", "throughput"};  // --modes=

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Hits sampled evenly from keys [0, count), as many unknown tokens, shuffled.
void make_workload(const std::vector<std::string> &hits, const std::vector<std::string> &misses,
                   std::vector<std::string> &tokens, std::vector<uint8_t> &expect, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(hits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  if (g_only == "alternating") std::shuffle(order.begin(), order.end(), rng);
  std::vector<std::pair<const std::string *, uint8_t>> all;
  for (size_t i : order) {
    if (g_only != "misses") all.push_back({&hits[i], 1});
    if (g_only != "hits") all.push_back({&misses[i], 0});
  }
  if (g_only != "alternating") std::shuffle(all.begin(), all.end(), rng);
  tokens.clear();
  expect.clear();
  for (auto &[t, e] : all) {
    tokens.push_back(*t);
    expect.push_back(e);
  }
}

KeySet make_keyset(int64_t n, int64_t head) {
  KeySet ks;
  ks.n = n;
  ks.head = head;
  ks.hashes.resize(size_t(n));
  shm::TokenHasher hasher;
  const uint64_t every = std::max<uint64_t>(1, uint64_t(n) / (kWorkload / 2));
  const uint64_t head_every = std::max<uint64_t>(1, uint64_t(head) / (kWorkload / 2));
  std::vector<std::string> hits, head_hits;
  for (int64_t i = 0; i < n; ++i) {
    std::string tok = shm::generate_token("ek", "sk", "live");
    hasher.hash(tok, ks.hashes[size_t(i)].data());
    if (uint64_t(i) % every == 0 && hits.size() < kWorkload / 2) hits.push_back(tok);
    if (head < n && i < head && uint64_t(i) % head_every == 0 && head_hits.size() < kWorkload / 2)
      head_hits.push_back(tok);
  }
  std::vector<std::string> misses;
  for (size_t i = 0; i < std::max(hits.size(), head_hits.size()); ++i)
    misses.push_back(shm::generate_token("ek", "sk", "live"));
  make_workload(hits, misses, ks.workload, ks.expect_hit, uint64_t(n));
  if (head < n) make_workload(head_hits, misses, ks.head_workload, ks.head_expect_hit, uint64_t(n) + 1);
  else ks.head_workload = ks.workload, ks.head_expect_hit = ks.expect_hit;
  return ks;
}

// ---- edgekey: the library on a TableWriter table (as validate_bench) ----
class EdgekeyPeer {
 public:
  struct Client {
    ek_validator *v = nullptr;
    explicit Client(const std::string &name) {
      if (ek_open(name.c_str(), &v) != 0) fatal("ek_open failed");
      if (g_uncounted) ek_set_counting(v, 0);
    }
    ~Client() { ek_close(v); }
  };
  // huge: the table in 2 MiB pages: in the hugetlbfs directory g_hugetlbfs,
  // or transparent ones (TableOptions::huge_pages = require).
  explicit EdgekeyPeer(const KeySet &ks, bool huge = false) {
    name_ = run_tag() + (huge ? "-ek2m-" : "-ek-") + std::to_string(ks.n);
    if (huge) dir_ = g_hugetlbfs;
    const std::string name = name_, dir = dir_;
    cleanup_ = add_cleanup([name, dir] { shm::TableWriter::destroy(name, dir); });
    shm::TableOptions o;
    o.name = name_;
    o.directory = dir_;
    o.permissions = {"chat:write", "agents:read", "logs:read"};
    o.roles = {"developer", "viewer"};
    o.capacity = uint64_t(double(ks.n + 64) / o.max_load);
    if (huge && dir_.empty()) o.huge_pages = shm::HugePages::Require;
    capacity_ = o.capacity;
    shm::TableWriter::destroy(name_, dir_);
    writer_ = std::make_unique<shm::TableWriter>(o);
    for (size_t i = 0; i < ks.hashes.size(); ++i) {
      const PeerValue v = KeySet::value_for(i);
      shm::TableRecord r;
      r.hash = ks.hashes[i];
      r.key_id = v.key_id;
      r.workspace = v.workspace;
      r.role = v.role;
      r.perms = v.perms;
      writer_->put(r);
    }
    // The readers' clock, as edgekeyd's tick sets it (readers that count
    // their answers read it; at 0 they ask the system clock instead).
    writer_->heartbeat(int64_t(time(nullptr)));
  }
  ~EdgekeyPeer() {
    clients_.clear();
    writer_.reset();
    shm::TableWriter::destroy(name_, dir_);
    remove_cleanup(cleanup_);
  }
  Client &client(int thread) {
    return client_for(clients_, mu_, thread,
                      [&] { return std::make_unique<Client>(shm::table_address(dir_, name_)); });
  }
  static int lookup(Client &c, std::string_view token, PeerResult &out) {
    // token points into a std::string: NUL-terminated.
    ek_request req{token.data(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    ek_validate(c.v, &req, &r);
    std::memcpy(out.key_id, r.key_id, sizeof out.key_id);
    out.status = r.status;
    return r.status;
  }
  uint64_t capacity() const { return capacity_; }
  std::string huge_page_report() const { return writer_->huge_page_report(); }

 private:
  std::string name_, dir_;  // dir_: table.directory, "" = /dev/shm
  uint64_t capacity_ = 0;
  int cleanup_ = -1;
  std::unique_ptr<shm::TableWriter> writer_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Client>> clients_;
};

// ---- the floor: validate_bench's BM_Floor as a peer ----
class FloorPeer {
 public:
  struct alignas(64) Slot {
    uint8_t hash[32];
    // [1] = occupied, [8..] the value: its key_id
    // in the slot's first cache line, so a lookup touches one line, as
    // validate_bench's floor does.
    uint8_t payload[96];
  };
  struct Client {
    shm::TokenHasher hasher;
    const FloorPeer *p;
  };
  FloorPeer(const KeySet &ks, uint64_t capacity) : capacity_(capacity), slots_(capacity) {
    for (size_t i = 0; i < ks.hashes.size(); ++i) {
      const uint8_t *h = ks.hashes[i].data();
      uint64_t idx = shm::home_slot(shm::hash_word0(h), capacity_);
      while (slots_[idx].payload[1]) idx = idx + 1 == capacity_ ? 0 : idx + 1;
      std::memcpy(slots_[idx].hash, h, 32);
      slots_[idx].payload[1] = 1;
      const PeerValue v = KeySet::value_for(i);
      std::memcpy(slots_[idx].payload + 8, &v, sizeof v);
    }
  }
  Client &client(int thread) {
    return client_for(clients_, mu_, thread, [&] { return std::make_unique<Client>(Client{{}, this}); });
  }
  static int lookup(Client &c, std::string_view token, PeerResult &out) {
    const FloorPeer &p = *c.p;
    uint8_t h[32];
    c.hasher.hash(token, h);
    uint64_t idx = shm::home_slot(shm::hash_word0(h), p.capacity_);
    while (p.slots_[idx].payload[1] && std::memcmp(p.slots_[idx].hash, h, 32) != 0)
      idx = idx + 1 == p.capacity_ ? 0 : idx + 1;
    // The status comes from the branch, as every other peer's does (no
    // chain through the slot's bytes: see the modes at the top).
    const Slot &s = p.slots_[idx];
    if (!s.payload[1]) return out.status = 401;
    std::memcpy(out.key_id, s.payload + 8, sizeof out.key_id);
    return out.status = 200;
  }

 private:
  uint64_t capacity_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::map<int, std::unique_ptr<Client>> clients_;
};

// ---- one size's peers ----
struct Size {
  KeySet ks;
  std::unique_ptr<EdgekeyPeer> edgekey, edgekey_2m;
  std::unique_ptr<FloorPeer> floor;
  std::unique_ptr<LmdbPeer> lmdb;
  std::unique_ptr<BoostPeer> boost;
  std::unique_ptr<RedisPeer> redis;
  std::unique_ptr<EdgekeydPeer> edgekeyd;
  std::map<std::string, double> load_s;
};

bool wanted(const std::string &p) { return std::find(g_peers.begin(), g_peers.end(), p) != g_peers.end(); }

template <class P>
void check_peer(const char *name, P &peer, const std::vector<std::string> &tokens, const std::vector<uint8_t> &expect) {
  auto &c = peer.client(0);
  PeerResult out;
  size_t bad = 0, n = std::min<size_t>(tokens.size(), 20'000);
  for (size_t i = 0; i < n; ++i) {
    int st = P::lookup(c, tokens[i], out);
    if (st != (expect[i] ? 200 : 401)) ++bad;
  }
  if (bad) {
    fprintf(stderr, "peers_bench: %s answered %zu of %zu checks wrongly\n", name, bad, n);
    exit(1);
  }
}

// latency: an lfence after each request; throughput: none (see the top).
template <class P, bool kLatency>
void run_peer(benchmark::State &state, P &peer, const std::vector<std::string> &tokens) {
  auto &c = peer.client(state.thread_index());
  PeerResult out;
  size_t i = size_t(state.thread_index()) * 7919;
  for (auto _ : state) {
    int st = P::lookup(c, tokens[i % tokens.size()], out);
    i += 1 + size_t(st >> 10);  // through predicted branches only
    if constexpr (kLatency) _mm_lfence();
  }
  benchmark::DoNotOptimize(out);
  state.SetItemsProcessed(state.iterations());
}

template <class P>
void add_peer(const std::string &peer, int64_t n, P *p, const std::vector<std::string> &tokens) {
  if (!p) return;
  for (const std::string &mode : g_modes) {
    const std::string name = "peers/" + std::to_string(n) + "/" + peer + "/" + mode;
    const bool latency = mode == "latency";
    benchmark::RegisterBenchmark(name.c_str(),
                                 [p, &tokens, latency](benchmark::State &s) {
                                   if (latency) run_peer<P, true>(s, *p, tokens);
                                   else run_peer<P, false>(s, *p, tokens);
                                 })
        ->Threads(1)
        ->Threads(2)
        ->UseRealTime();
  }
}

std::unique_ptr<Size> build(int64_t n) {
  auto s = std::make_unique<Size>();
  const int64_t head = g_socket_keys > 0 ? std::min(g_socket_keys, n) : n;
  auto t0 = std::chrono::steady_clock::now();
  printf("peers_bench: %lld keys: generating tokens and hashes...\n", (long long)n);
  fflush(stdout);
  s->ks = make_keyset(n, head);
  printf("  key set: %.1f s\n", seconds_since(t0));
  auto step = [&](const char *name, auto fn) {
    if (!wanted(name)) return;
    printf("  loading %s...", name);
    fflush(stdout);
    auto t = std::chrono::steady_clock::now();
    try {
      fn();
    } catch (const std::exception &e) {
      fprintf(stderr, "\npeers_bench: %s: %s\n", name, e.what());
      exit(1);
    }
    s->load_s[name] = seconds_since(t);
    printf(" %.1f s\n", s->load_s[name]);
    fflush(stdout);
  };
  const KeySet &ks = s->ks;
  step("edgekey", [&] {
    s->edgekey = std::make_unique<EdgekeyPeer>(ks);
    check_peer("edgekey", *s->edgekey, ks.workload, ks.expect_hit);
  });
  const shm::HugePageHost host = shm::huge_page_host();
  if (wanted("edgekey-2m") && !host.allows && g_hugetlbfs.empty())
    printf("  edgekey-2m skipped: this host gives /dev/shm no huge pages (%s; %s; or pass "
           "--hugetlbfs=DIR)\n",
           host.describe().c_str(), host.how_to_enable().c_str());
  else
    step("edgekey-2m", [&] {
      s->edgekey_2m = std::make_unique<EdgekeyPeer>(ks, true);
      printf(" (%s)", s->edgekey_2m->huge_page_report().c_str());
      check_peer("edgekey-2m", *s->edgekey_2m, ks.workload, ks.expect_hit);
    });
  step("floor", [&] {
    const uint64_t cap = s->edgekey ? s->edgekey->capacity() : uint64_t(double(n + 64) / 0.8);
    s->floor = std::make_unique<FloorPeer>(ks, cap);
    check_peer("floor", *s->floor, ks.workload, ks.expect_hit);
  });
  step("lmdb", [&] {
    s->lmdb = std::make_unique<LmdbPeer>(ks);
    check_peer("lmdb", *s->lmdb, ks.workload, ks.expect_hit);
  });
  step("boost", [&] {
    s->boost = std::make_unique<BoostPeer>(ks);
    check_peer("boost", *s->boost, ks.workload, ks.expect_hit);
  });
  step("redis", [&] {
    s->redis = std::make_unique<RedisPeer>(ks);
    check_peer("redis", *s->redis, ks.workload, ks.expect_hit);
  });
  step("edgekeyd", [&] {
    s->edgekeyd = std::make_unique<EdgekeydPeer>(ks, g_edgekeyd);
    check_peer("edgekeyd", *s->edgekeyd, ks.head_workload, ks.head_expect_hit);
  });
  add_peer("edgekey", n, s->edgekey.get(), ks.workload);
  add_peer("edgekey-2m", n, s->edgekey_2m.get(), ks.workload);
  add_peer("floor", n, s->floor.get(), ks.workload);
  add_peer("lmdb", n, s->lmdb.get(), ks.workload);
  add_peer("boost", n, s->boost.get(), ks.workload);
  add_peer("redis", n, s->redis.get(), ks.workload);
  add_peer("edgekeyd", n, s->edgekeyd.get(), ks.head_workload);
  return s;
}

// ---- results ----
PeerResults g_r;

double load_avg() {
  double l[1] = {0};
  return getloadavg(l, 1) == 1 ? l[0] : -1;
}

class PeersReporter : public benchmark::ConsoleReporter {
 public:
  // Shows the aggregates (every run when there is one repetition); keeps
  // each repetition's figure for the targets' counts.
  void ReportRuns(const std::vector<Run> &runs) override {
    std::vector<Run> shown;
    for (const Run &r : runs)
      if (r.run_type == Run::RT_Aggregate || r.repetitions <= 1) shown.push_back(r);
    ConsoleReporter::ReportRuns(shown);
    for (const Run &r : runs) {
      if (r.error_occurred || !r.counters.count("items_per_second")) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      const bool rep = r.run_type == Run::RT_Iteration;
      if (!median && !rep) continue;
      // function_name: peers/<n>/<peer>/<mode>
      std::string fn = r.run_name.function_name;
      size_t a = fn.find('/'), b = fn.find('/', a + 1), c = fn.find('/', b + 1);
      const int64_t n = std::stoll(fn.substr(a + 1, b - a - 1));
      PeerRun &res = g_r.runs[{n, fn.substr(b + 1, c - b - 1), int(r.threads), fn.substr(c + 1)}];
      const double ops = r.counters.at("items_per_second");
      if (rep) res.rep_ops.push_back(ops);
      if (median || r.repetitions <= 1) res.ops = ops;
      res.reps = int(r.repetitions);
    }
  }
};

std::vector<std::string> split(const char *p) {
  std::vector<std::string> out;
  std::string cur;
  for (; *p; ++p)
    if (*p == ',') out.push_back(cur), cur.clear();
    else cur += *p;
  if (!cur.empty()) out.push_back(cur);
  return out;
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<char *> args;
  bool reps_given = false;
  g_command = "peers_bench";
  for (int i = 1; i < argc; ++i) g_command += std::string(" ") + argv[i];
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--sizes=", 0) == 0) {
      g_sizes.clear();
      for (auto &s : split(argv[i] + 8)) g_sizes.push_back(std::stoll(s));
    } else if (a.rfind("--peers=", 0) == 0) {
      g_peers.clear();
      for (auto &p : split(argv[i] + 8)) {
        if (!known_peer(p)) fatal(("unknown peer " + p).c_str());
        g_peers.push_back(p);
      }
    } else if (a.rfind("--modes=", 0) == 0) {
      g_modes = split(argv[i] + 8);
      for (auto &m : g_modes)
        if (m != "latency" && m != "throughput") fatal("--modes= takes latency, throughput or both");
    } else if (a.rfind("--socket-keys=", 0) == 0) {
      g_socket_keys = std::stoll(a.substr(14));
    } else if (a.rfind("--only=", 0) == 0) {
      g_only = a.substr(7);
      if (g_only != "hits" && g_only != "misses" && g_only != "alternating")
        fatal("--only= takes hits, misses or alternating");
    } else if (a.rfind("--out=", 0) == 0) {
      g_out = a.substr(6);
    } else if (a == "--uncounted") {
      g_uncounted = true;
    } else if (a.rfind("--hugetlbfs=", 0) == 0) {
      g_hugetlbfs = a.substr(12);
    } else if (a.rfind("--edgekeyd=", 0) == 0) {
      g_edgekeyd = a.substr(11);
    } else {
      if (a.rfind("--benchmark_repetitions", 0) == 0) reps_given = true;
      args.push_back(argv[i]);
    }
  }
  // The display order, edgekey first.
  {
    std::vector<std::string> sorted;
    for (auto &p : kPeerOrder)
      if (wanted(p)) sorted.push_back(p);
    g_peers = sorted;
  }
  static char reps[] = "--benchmark_repetitions=5", interleave[] = "--benchmark_enable_random_interleaving=true";
  if (!reps_given) {
    args.push_back(reps);
    args.push_back(interleave);
  }
  atexit(run_cleanups);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGHUP, on_signal);
  signal(SIGPIPE, SIG_IGN);

  int ac = int(args.size());
  benchmark::Initialize(&ac, args.data());
  PeersReporter reporter;
  for (int64_t n : g_sizes) {
    auto size = build(n);
    g_r.load_s[n] = size->load_s;
    g_r.head[n] = size->ks.head;
    g_r.load_avg[n].first = load_avg();
    benchmark::RunSpecifiedBenchmarks(&reporter);
    g_r.load_avg[n].second = load_avg();
    benchmark::ClearRegisteredBenchmarks();
  }
  benchmark::Shutdown();
  g_r.sizes = g_sizes;
  g_r.peers = g_peers;
  g_r.only = g_only;
  g_r.modes = g_modes;
  g_r.command = g_command;
  const std::string table = report_table(g_r);
  printf("%s", table.c_str());
  if (!g_out.empty()) write_outputs(g_r, g_out, table);
  return 0;
}
