// validate_bench -- libedgekey's validate against its floor, in one run.
//
// The floor is what no table can beat: SHA-256 of the token (the same
// function validate uses) plus a probe in a plain in-process array of the
// same size and slot size. Tables hold N uniform random keys (10k, 1M, 10M);
// each benchmark draws tokens from a shuffled sample of them.
//
// The lookups are measured two ways (Mode), the same for validate and the
// floor: latency, one request at a time (an lfence after each: nothing of
// the next request starts before every instruction of this one, its loads
// included, has completed; not a chain through the answer's bytes, which a
// miss's answer, a constant picked by a predicted branch, would not carry),
// and throughput, back to back (consecutive requests overlap in the CPU as
// far as its window allows, which no server's requests do).
//
// After the runs, a summary prints the ratios the issue sets targets for:
// hit/floor at every size in both modes (the targets hold in latency),
// malformed ns, p99 under a 10k updates/s writer against idle, and 2-thread
// against 1-thread throughput. The BM_Part* rows split a 1M-key request
// into its steps (see register_all).
//
//   bench/run                      # Release build, all sizes
//   validate_bench --sizes=10000   # one size (CI smoke run)
#include "bench_args.hpp"
#include "shm/src/generation.hpp"
#include "shm/src/table_view.hpp"
#include "shm/src/token_format.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "shm/writer/usage_reader.hpp"

#include <benchmark/benchmark.h>
#include <edgekey/edgekey.h>
#include <unistd.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

using namespace edgekey;

namespace {

std::vector<int64_t> g_sizes = {10'000, 1'000'000, 10'000'000};
constexpr size_t kSample = 1 << 20;  // tokens drawn from per size (at most)
std::map<int64_t, uint64_t> g_segment_bytes;  // data segment size per table size

// N keys in a shared table, their tokens (a sample), a plain floor array,
// revoked and unknown tokens.
struct Table {
  std::string name;
  std::unique_ptr<shm::TableWriter> writer;
  std::vector<std::string> hits, revoked, unknown;
  std::vector<std::array<uint8_t, 32>> hit_hashes, unknown_hashes;
  // The sampled hits by their slot's distance from their home (linear
  // probing at load 0.8): at the home slot, 1 or 2 slots past it (find_slot
  // prefetches those with the home slot: kPrefetchedNeighbours), or further.
  std::vector<std::array<uint8_t, 32>> home_hashes, near_hashes, far_hashes;
  struct alignas(64) FloorSlot {
    uint8_t hash[32];
    uint8_t payload[96];
  };
  std::vector<FloorSlot> floor;
  uint64_t capacity = 0;
  ~Table() {
    writer.reset();
    if (!name.empty()) shm::TableWriter::destroy(name);
  }
};

shm::TableRecord record_for(const std::array<uint8_t, 32> &hash, uint64_t i, uint64_t v) {
  shm::TableRecord r;
  r.hash = hash;
  r.key_id = "key_" + std::to_string(i);
  r.workspace = "ws_" + std::to_string(i % 1000);
  r.role = uint8_t(v % 2);
  r.perms = 0b11;
  return r;
}

Table &table(int64_t n) {
  static std::mutex mu;
  static std::map<int64_t, std::unique_ptr<Table>> tables;
  std::lock_guard lock(mu);
  auto &slot = tables[n];
  if (slot) return *slot;
  slot = std::make_unique<Table>();
  Table &t = *slot;
  t.name = "ekbench-" + std::to_string(getpid()) + "-" + std::to_string(n);
  shm::TableOptions o;
  o.name = t.name;
  o.permissions = {"chat:write", "agents:read", "logs:read"};
  o.roles = {"developer", "viewer"};
  // 10M keys at the writer's max load 0.8: 12.5M slots = 1.49 GiB.
  o.capacity = uint64_t(double(n + 4096 + 64) / o.max_load);  // + the revoked keys below
  shm::TableWriter::destroy(t.name);
  t.writer = std::make_unique<shm::TableWriter>(o);
  t.capacity = o.capacity;
  t.floor.resize(o.capacity);
  std::vector<bool> used(o.capacity, false);

  shm::TokenHasher hasher;
  std::mt19937_64 rng(n);
  const uint64_t sample_every = std::max<uint64_t>(1, uint64_t(n) / kSample);
  std::vector<shm::TableRecord> batch;
  for (int64_t i = 0; i < n; ++i) {
    std::string tok = shm::generate_token("ek", "sk", "live");
    std::array<uint8_t, 32> h;
    hasher.hash(tok, h.data());
    t.writer->put(record_for(h, i, 0));
    uint64_t idx = shm::home_slot(shm::hash_word0(h.data()), o.capacity);
    while (used[idx]) idx = idx + 1 == o.capacity ? 0 : idx + 1;
    used[idx] = true;
    std::memcpy(t.floor[idx].hash, h.data(), 32);
    if (uint64_t(i) % sample_every == 0 && t.hits.size() < kSample) {
      t.hits.push_back(tok);
      t.hit_hashes.push_back(h);
    }
  }
  std::shuffle(t.hits.begin(), t.hits.end(), rng);
  // Copies in the new order, so that the tokens' bytes lie in the order they
  // are read (the prefetcher fetches them ahead, as a server's request
  // buffer is in its caches) rather than each one a cache miss of the
  // harness's own.
  t.hits = std::vector<std::string>(t.hits.begin(), t.hits.end());
  for (int i = 0; i < 4096; ++i) {
    std::string tok = shm::generate_token("ek", "sk", "live");
    std::array<uint8_t, 32> h;
    hasher.hash(tok, h.data());
    t.writer->put(record_for(h, n + i, 0));
    t.writer->revoke(h);
    t.revoked.push_back(tok);
  }
  // Unknown keys: as many as the sampled hits (at most 256k), so that the
  // misses' homes words are not a few cached lines.
  for (size_t i = 0; i < std::min<size_t>(t.hits.size(), 1 << 18); ++i) {
    std::string tok = shm::generate_token("ek", "sk", "live");
    std::array<uint8_t, 32> h;
    hasher.hash(tok, h.data());
    t.unknown.push_back(std::move(tok));
    t.unknown_hashes.push_back(h);
  }
  {
    const shm::DataView d = t.writer->current()->view();
    for (const auto &h : t.hit_hashes) {
      const uint64_t h0 = shm::hash_word0(h.data());
      uint64_t idx = shm::home_slot(h0, d.capacity), dist = 0;
      while (d.slots[idx].w[2].load(std::memory_order_relaxed) != h0 && dist < d.capacity)
        idx = idx + 1 == d.capacity ? 0 : idx + 1, ++dist;
      if (dist == 0) t.home_hashes.push_back(h);
      else if (dist > shm::kPrefetchedNeighbours) t.far_hashes.push_back(h);
      else t.near_hashes.push_back(h);
    }
  }
  g_segment_bytes[n] = t.writer->stats().segment_bytes;
  t.writer->heartbeat(int64_t(time(nullptr)));  // the readers' usage clock, as edgekeyd's tick sets it
  return t;
}

struct Reader {
  ek_validator *v = nullptr;
  // counting: usage counting (#19) on, as readers run, or off (the cost's baseline).
  explicit Reader(const std::string &name, bool counting = true) {
    if (ek_open(name.c_str(), &v) != 0) abort();
    if (ek_set_counting(v, counting) != int(counting)) {
      fprintf(stderr, "usage counting cannot be turned %s for %s\n", counting ? "on" : "off", name.c_str());
      abort();
    }
  }
  ~Reader() { ek_close(v); }
  int validate(const std::string &tok, const char *perm = nullptr) {
    ek_request req{tok.c_str(), perm, nullptr, nullptr, nullptr};
    ek_result r;
    ek_validate(v, &req, &r);
    return r.status;
  }
};

// One validator per table and benchmark thread for the whole run, as a
// worker keeps one: a fresh mapping pays a minor page fault per 4 KiB page
// on first touch (~60k for 1M keys), which is start-up cost, not validate's.
Reader &reader_for(const std::string &name, int thread, bool counting = true) {
  static std::mutex mu;
  static std::map<std::tuple<std::string, int, bool>, std::unique_ptr<Reader>> readers;
  std::lock_guard lock(mu);
  auto &r = readers[{name, thread, counting}];
  if (!r) r = std::make_unique<Reader>(name, counting);
  return *r;
}

// What edgekeyd's usage collector does for the readers (#19), less the
// folding: removes the segments validators retired (a validator seeing more
// keys than its segment holds moves to a new one once the last is removed),
// every 10 ms on a thread of its own.
class UsageReaper {
 public:
  UsageReaper() : thread_([this] { run(); }) {}
  ~UsageReaper() {
    stop_ = true;
    thread_.join();
  }

 private:
  void run() {
    while (!stop_) {
      for (const std::string &table : tables())
        for (const std::string &n : shm::usage_segment_names(table)) {
          const std::string path = shm::usage_dir(table) + "/" + n;
          shm::UsageSegment s;
          if (s.open(path) && s.retired()) unlink(path.c_str());
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  static std::vector<std::string> tables() {
    std::vector<std::string> out;
    for (int64_t n : g_sizes) out.push_back("ekbench-" + std::to_string(getpid()) + "-" + std::to_string(n));
    return out;
  }
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// latency: an lfence after each request; throughput: back to back (the top).
enum class Mode { Latency, Throughput };
const char *mode_name(Mode m) { return m == Mode::Latency ? "latency" : "throughput"; }
inline void end_request(Mode m) {
  if (m == Mode::Latency) _mm_lfence();
}

void run_validate(benchmark::State &state, Mode mode, const std::vector<std::string> &tokens,
                  const std::string &name, int want, const char *perm = nullptr, bool counting = true) {
  Reader &r = reader_for(name, state.thread_index(), counting);
  size_t i = size_t(state.thread_index()) * 7919;
  for (auto _ : state) {
    int st = r.validate(tokens[i % tokens.size()], perm);
    if (st != want) {
      state.SkipWithError("unexpected status");
      break;
    }
    i += 1 + size_t(st >> 10);  // through predicted branches only
    end_request(mode);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ValidateHit(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  run_validate(state, m, t.hits, t.name, 200);
}
// The same hits with usage counting off: the hit's row minus this one is
// what counting costs (same run, interleaved repetitions).
void BM_ValidateHitUncounted(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  run_validate(state, m, t.hits, t.name, 200, nullptr, false);
}
void BM_ValidateHitPermission(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  run_validate(state, m, t.hits, t.name, 200, "agents:read");
}
void BM_ValidateMiss(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  run_validate(state, m, t.unknown, t.name, 401);
}
void BM_ValidateRevoked(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  run_validate(state, m, t.revoked, t.name, 401);
}
void BM_ValidateMalformed(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  std::vector<std::string> bad;
  for (size_t i = 0; i < 4096; ++i) {
    std::string s = t.unknown[i % t.unknown.size()];
    s.back() = s.back() == 'A' ? 'B' : 'A';
    bad.push_back(s);
  }
  run_validate(state, m, bad, t.name, 401);
}

// The floor: the same SHA-256, then linear probing in a plain array of
// 128-byte slots of the same capacity; serialized (or not) as validate is.
void BM_Floor(benchmark::State &state, Mode m) {
  Table &t = table(state.range(0));
  shm::TokenHasher hasher;
  size_t i = size_t(state.thread_index()) * 7919;
  for (auto _ : state) {
    const std::string &tok = t.hits[i % t.hits.size()];
    uint8_t h[32];
    hasher.hash(tok, h);
    uint64_t idx = shm::home_slot(shm::hash_word0(h), t.capacity);
    while (std::memcmp(t.floor[idx].hash, h, 32) != 0) idx = idx + 1 == t.capacity ? 0 : idx + 1;
    benchmark::DoNotOptimize(idx);
    ++i;
    end_request(m);
  }
  state.SetItemsProcessed(state.iterations());
}

// The steps of a request, each run alone and serialized (latency: an
// lfence after each), so that the differences between rows say where a
// request's time goes (register_all). Tokens and hashes are the hits' (or
// the unknown keys', *Miss), precomputed where a row starts past a step.
template <class Step>
void run_part(benchmark::State &state, Step step) {
  size_t i = 0;
  for (auto _ : state) {
    step(i++);
    _mm_lfence();
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_PartSha256(benchmark::State &state) {
  Table &t = table(state.range(0));
  shm::TokenHasher hasher;
  run_part(state, [&](size_t i) {
    uint8_t h[32];
    hasher.hash(t.hits[i % t.hits.size()], h);
    benchmark::DoNotOptimize(h);
  });
}
// The inline parse ek_validate uses (token_format.hpp), CRC check included.
void BM_PartParse(benchmark::State &state) {
  Table &t = table(state.range(0));
  run_part(state, [&](size_t i) {
    auto p = shm::parse_authorization(t.hits[i % t.hits.size()].c_str(), "ek", false);
    benchmark::DoNotOptimize(p);
  });
}
void BM_PartParseHash(benchmark::State &state) {
  Table &t = table(state.range(0));
  shm::TokenHasher hasher;
  run_part(state, [&](size_t i) {
    auto p = shm::parse_authorization(t.hits[i % t.hits.size()].c_str(), "ek", false);
    uint8_t h[32];
    hasher.hash(p.token, h);
    benchmark::DoNotOptimize(h);
  });
}
// The homes word of a hash (a cached 814 KiB at 1M keys).
void BM_PartHomes(benchmark::State &state) {
  Table &t = table(state.range(0));
  const shm::DataView d = t.writer->current()->view();
  run_part(state, [&](size_t i) {
    const uint8_t *h = t.hit_hashes[i % t.hit_hashes.size()].data();
    const uint64_t w = d.homes[shm::homes_word_of(shm::home_slot(shm::hash_word0(h), d.capacity))].load(
        std::memory_order_relaxed);
    benchmark::DoNotOptimize(w);
  });
}
// The home slot's first word alone: its page walk and cache miss.
void BM_PartSlotLine(benchmark::State &state) {
  Table &t = table(state.range(0));
  const shm::DataView d = t.writer->current()->view();
  run_part(state, [&](size_t i) {
    const uint8_t *h = t.hit_hashes[i % t.hit_hashes.size()].data();
    const uint64_t w = d.slots[shm::home_slot(shm::hash_word0(h), d.capacity)].w[0].load(std::memory_order_relaxed);
    benchmark::DoNotOptimize(w);
  });
}
void find_part(benchmark::State &state, const std::vector<std::array<uint8_t, 32>> &hashes, shm::Lookup want) {
  Table &t = table(state.range(0));
  const shm::DataView view = t.writer->current()->view();
  if (hashes.empty()) {
    state.SkipWithError("no such keys in this table");
    return;
  }
  run_part(state, [&](size_t i) {
    shm::SlotImage s;
    auto r = shm::find_slot(view, hashes[i % hashes.size()].data(), s);
    if (r != want) state.SkipWithError("unexpected find_slot answer");
    benchmark::DoNotOptimize(s);
  });
}
void BM_PartFindSlot(benchmark::State &state) {
  find_part(state, table(state.range(0)).hit_hashes, shm::Lookup::Hit);
}
void BM_PartFindSlotMiss(benchmark::State &state) {
  find_part(state, table(state.range(0)).unknown_hashes, shm::Lookup::Miss);
}
// find_slot of the hits at their home slot, 1 or 2 slots past it, and 3 or
// more past it (their share of the hits: the "share" counter;
// bench/results/lookup.md).
void find_part_share(benchmark::State &state, std::vector<std::array<uint8_t, 32>> Table::*hashes) {
  Table &t = table(state.range(0));
  find_part(state, t.*hashes, shm::Lookup::Hit);
  state.counters["share"] = double((t.*hashes).size()) / double(t.hit_hashes.size());
}
void BM_PartFindSlotHome(benchmark::State &state) { find_part_share(state, &Table::home_hashes); }
void BM_PartFindSlotNear(benchmark::State &state) { find_part_share(state, &Table::near_hashes); }
void BM_PartFindSlotFar(benchmark::State &state) { find_part_share(state, &Table::far_hashes); }
void BM_PartParseHashFind(benchmark::State &state) {
  Table &t = table(state.range(0));
  const shm::DataView view = t.writer->current()->view();
  shm::TokenHasher hasher;
  run_part(state, [&](size_t i) {
    auto p = shm::parse_authorization(t.hits[i % t.hits.size()].c_str(), "ek", false);
    uint8_t h[32];
    hasher.hash(p.token, h);
    shm::SlotImage s;
    auto r = shm::find_slot(view, h, s);
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(s);
  });
}

// Per-call latency percentiles, idle or with a writer updating 10k keys/s.
double g_tsc_per_ns = 0;
double tsc_per_ns() {
  if (g_tsc_per_ns == 0) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t c0 = __rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    }
    uint64_t c1 = __rdtsc();
    double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    g_tsc_per_ns = double(c1 - c0) / ns;
  }
  return g_tsc_per_ns;
}

void BM_ValidateLatency(benchmark::State &state) {
  Table &t = table(state.range(0));
  const bool with_writer = state.range(1) != 0;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> updates{0};
  std::thread writer;
  if (with_writer) {
    writer = std::thread([&] {
      auto next = std::chrono::steady_clock::now();
      uint64_t v = 1;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 100; ++k, ++v) {  // 100 updates every 10 ms = 10k/s
          size_t i = size_t(v * 2654435761u) % t.hit_hashes.size();
          t.writer->put(record_for(t.hit_hashes[i], i, v));
        }
        updates += 100;
        next += std::chrono::milliseconds(10);
        std::this_thread::sleep_until(next);
      }
    });
  }
  Reader &r = reader_for(t.name, 0);
  std::vector<uint32_t> lat;
  lat.reserve(1 << 22);
  size_t i = 0;
  const double per_ns = tsc_per_ns();
  for (auto _ : state) {
    // lfence: the call starts after the first read of the clock, and the
    // second waits for the call's loads (latency mode, as above).
    _mm_lfence();
    uint64_t c0 = __rdtsc();
    _mm_lfence();
    int st = r.validate(t.hits[i++ % t.hits.size()]);
    _mm_lfence();
    uint64_t c1 = __rdtsc();
    benchmark::DoNotOptimize(st);
    if (lat.size() < lat.capacity()) lat.push_back(uint32_t(double(c1 - c0) / per_ns));
  }
  stop = true;
  if (writer.joinable()) writer.join();
  std::sort(lat.begin(), lat.end());
  if (!lat.empty()) {
    state.counters["p50_ns"] = lat[lat.size() / 2];
    state.counters["p99_ns"] = lat[lat.size() * 99 / 100];
    state.counters["p999_ns"] = lat[lat.size() * 999 / 1000];
    // The rare stalls (#19: a usage segment made in the call) show only here.
    state.counters["p9999_ns"] = lat[lat.size() * 9999 / 10000];
    state.counters["max_ns"] = lat.back();
    state.counters["over_100us"] = double(lat.end() - std::upper_bound(lat.begin(), lat.end(), 100'000u));
  }
  state.counters["writer_updates_per_s"] =
      benchmark::Counter(double(updates.load()), benchmark::Counter::kIsRate);
}

// Collects results to print the ratios the targets are stated in.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &runs) override {
    ConsoleReporter::ReportRuns(runs);
    // A benchmark repeated (hit and floor are) is summarised by its median.
    for (const Run &r : runs) {
      if (r.error_occurred) continue;
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      std::string name = r.run_name.str();  // without "/repeats:N", as the summary asks
      if (size_t at = name.find("/repeats:"); at != std::string::npos)
        name.erase(at, name.find('/', at + 1) - at);
      if (!median && medians_.count(name)) continue;
      Entry e;
      e.ns = r.GetAdjustedRealTime();
      e.items = r.counters.count("items_per_second") ? double(r.counters.at("items_per_second")) : 0;
      for (const char *c : {"p50_ns", "p99_ns"})
        if (r.counters.count(c)) e.counters[c] = r.counters.at(c);
      results_[name] = e;
      if (median) medians_.insert(name);
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto get = [&](const std::string &k) -> const Entry * {
      auto it = results_.find(k);
      return it == results_.end() ? nullptr : &it->second;
    };
    printf("\nSummary (targets from the libedgekey issue; they hold in latency mode)\n");
    for (int64_t n : g_sizes) {
      const std::string s = std::to_string(n);
      for (Mode m : {Mode::Latency, Mode::Throughput}) {
        const std::string tail = std::string("/") + mode_name(m) + "/" + s + "/real_time/threads:";
        const Entry *hit = get("BM_ValidateHit" + tail + "1"), *floor = get("BM_Floor" + tail + "1");
        if (hit && floor)
          printf("  %9s keys, %-10s: hit %6.1f ns, floor %6.1f ns, ratio %.2f (target <= 1.20)\n", s.c_str(),
                 mode_name(m), hit->ns, floor->ns, hit->ns / floor->ns);
        if (const Entry *off = get("BM_ValidateHitUncounted" + tail + "1"); hit && off && floor)
          printf("  %9s keys, %-10s: usage counting adds %5.1f ns to a hit (%.1f -> %.1f; target <= 15 at 10k), "
                 "uncounted hit/floor %.2f\n", s.c_str(), mode_name(m), hit->ns - off->ns, off->ns, hit->ns,
                 off->ns / floor->ns);
        const Entry *t2 = get("BM_ValidateHit" + tail + "2");
        if (hit && t2 && hit->items > 0)
          printf("  %9s keys, %-10s: 2 threads %.2fx one thread (target >= 1.80)\n", s.c_str(), mode_name(m),
                 t2->items / hit->items);
      }
      const Entry *idle = get("BM_ValidateLatency/" + s + "/0/iterations:2000000");
      const Entry *busy = get("BM_ValidateLatency/" + s + "/1/iterations:2000000");
      if (idle && busy && idle->counters.count("p99_ns"))
        printf("  %9s keys: p99 idle %.0f ns, with 10k updates/s %.0f ns, ratio %.2f (target <= 1.50)\n",
               s.c_str(), idle->counters.at("p99_ns"), busy->counters.at("p99_ns"),
               busy->counters.at("p99_ns") / idle->counters.at("p99_ns"));
    }
    if (const Entry *m = get("BM_ValidateMalformed/latency/" + std::to_string(g_sizes.front()) + "/threads:1"))
      printf("  malformed (bad checksum), latency: %.1f ns (target <= 50)\n", m->ns);
    for (int64_t n : g_sizes) {
      auto it = g_segment_bytes.find(n);
      if (it != g_segment_bytes.end())
        printf("  %9lld keys: data segment %.1f MiB (target for 10M: <= 1536)\n", (long long)n,
               double(it->second) / double(1ULL << 20));
    }
  }
 private:
  struct Entry {
    double ns = 0, items = 0;
    std::map<std::string, double> counters;
  };
  std::map<std::string, Entry> results_;
  std::set<std::string> medians_;
};

void register_all() {
  for (int64_t n : g_sizes) {
    for (Mode m : {Mode::Latency, Mode::Throughput}) {
      const std::string tail = std::string("/") + mode_name(m);
      for (auto *b : {benchmark::RegisterBenchmark(("BM_Floor" + tail).c_str(), BM_Floor, m),
                      benchmark::RegisterBenchmark(("BM_ValidateHit" + tail).c_str(), BM_ValidateHit, m)}) {
        // (BM_ValidateHitUncounted below: the same hit with usage counting off.)
        // Each run draws new random keys, so the floor moves between runs by a
        // few percent: the ratio compares medians of one run's repetitions.
        b->Arg(n)->Threads(1)->Threads(2)->UseRealTime()->Repetitions(5);
      }
      benchmark::RegisterBenchmark(("BM_ValidateHitUncounted" + tail).c_str(), BM_ValidateHitUncounted, m)
          ->Arg(n)
          ->Threads(1)
          ->UseRealTime()
          ->Repetitions(5);
      benchmark::RegisterBenchmark(("BM_ValidateHitPermission" + tail).c_str(), BM_ValidateHitPermission, m)
          ->Arg(n)
          ->Threads(1);
      benchmark::RegisterBenchmark(("BM_ValidateMiss" + tail).c_str(), BM_ValidateMiss, m)->Arg(n)->Threads(1);
      benchmark::RegisterBenchmark(("BM_ValidateRevoked" + tail).c_str(), BM_ValidateRevoked, m)->Arg(n)->Threads(1);
    }
    benchmark::RegisterBenchmark("BM_ValidateLatency", BM_ValidateLatency)
        ->Args({n, 0})
        ->Args({n, 1})
        ->Iterations(2'000'000);
  }
  for (Mode m : {Mode::Latency, Mode::Throughput})
    benchmark::RegisterBenchmark((std::string("BM_ValidateMalformed/") + mode_name(m)).c_str(), BM_ValidateMalformed, m)
        ->Arg(g_sizes.front())
        ->Threads(1);
  // A request's steps, latency mode, each row one step more than the last:
  //   Sha256 < Parse (CRC included) < ParseHash;  Homes, SlotLine: one load
  //   from a precomputed hash (the homes word; the home slot's first line);
  //   FindSlot (Miss): the probe from a precomputed hash; FindSlotHome /
  //   Near / Far: the hits at their home slot / 1-2 / 3 or more slots past it;
  //   ParseHashFind;
  //   then BM_ValidateHit/latency adds the call, refresh and the copies into
  //   ek_result.
  for (int64_t n : g_sizes)
    for (auto [name, fn] : std::initializer_list<std::pair<const char *, void (*)(benchmark::State &)>>{
             {"BM_PartSha256", BM_PartSha256},
             {"BM_PartParse", BM_PartParse},
             {"BM_PartParseHash", BM_PartParseHash},
             {"BM_PartHomes", BM_PartHomes},
             {"BM_PartSlotLine", BM_PartSlotLine},
             {"BM_PartFindSlot", BM_PartFindSlot},
             {"BM_PartFindSlotHome", BM_PartFindSlotHome},
             {"BM_PartFindSlotNear", BM_PartFindSlotNear},
             {"BM_PartFindSlotFar", BM_PartFindSlotFar},
             {"BM_PartFindSlotMiss", BM_PartFindSlotMiss},
             {"BM_PartParseHashFind", BM_PartParseHashFind}})
      benchmark::RegisterBenchmark((std::string(name) + "/latency").c_str(), fn)->Arg(n);
}

}  // namespace

int main(int argc, char **argv) {
  // --sizes=10000,1000000 picks the table sizes (default 10k, 1M, 10M).
  std::vector<char *> args;
  for (int i = 0; i < argc; ++i) {
    if (!bench::take_sizes_flag(argv[i], g_sizes)) args.push_back(argv[i]);
  }
  int ac = int(args.size());
  benchmark::Initialize(&ac, args.data());
  register_all();
  SummaryReporter reporter;
  UsageReaper reaper;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
