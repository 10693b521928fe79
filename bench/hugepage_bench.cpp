// hugepage_bench -- validate and its floor on 4 KiB against 2 MiB pages.
//
// At 1M and 10M keys the table (and the floor's array) is far larger than
// what the TLB covers with 4 KiB pages, so a lookup pays a page walk on top
// of its cache misses; 2 MiB pages cut that walk. For each size, on the same
// keys and the same sampled tokens:
//   floor/4K    SHA-256 + a probe in an anonymous array madvised NOHUGEPAGE
//   floor/2M    the same array madvised HUGEPAGE (anonymous THP)
//   validate/4K libedgekey's validate, table.huge_pages: off
//   validate/2M the same, table.huge_pages: require (or, with --hugetlbfs=DIR,
//               table.directory: DIR, a hugetlbfs mount)
// Each row's "huge_MiB" counter says how much of the structure the kernel
// actually backed with 2 MiB pages (smaps), so a figure is never mislabelled.
// Each is measured two ways, as in validate_bench: latency (an lfence after
// each lookup: one request at a time, nothing of the next one started before
// this one's loads complete; a chain through the answer's bytes would not
// hold a miss, whose answer a predicted branch picks) and throughput (back
// to back, consecutive lookups overlapping in the CPU).
//
// Runs only where the host gives /dev/shm huge pages (shm/src/huge_pages.hpp:
// shmem_enabled `force`, or /dev/shm mounted huge=advise|always|within_size);
// or with --hugetlbfs=DIR; elsewhere it prints one line saying so and what
// to set, and exits 0. It never changes the host.
//
//   hugepage_bench [--sizes=1000000,10000000] [benchmark flags]
//   hugepage_bench --benchmark_repetitions=3   # the summary takes medians
//   hugepage_bench --hugetlbfs=/dev/hugepages  # the 2M table in hugetlbfs (pages reserved)
#include "bench_args.hpp"
#include "shm/src/generation.hpp"
#include "shm/src/huge_pages.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <benchmark/benchmark.h>
#include <edgekey/edgekey.h>
#include <sys/mman.h>
#include <x86intrin.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace edgekey;

namespace {

std::vector<int64_t> g_sizes = {1'000'000, 10'000'000};
constexpr size_t kSample = 1 << 20;  // hit tokens drawn from, per size (at most)
constexpr double kMaxLoad = 0.8;     // as validate_bench: the writer's default
std::string g_hugetlbfs;             // --hugetlbfs: the 2M table's table.directory

// The keys of one size: every hash (to fill the structures) and a shuffled
// sample of tokens (what the benchmarks look up). Shared by both page sizes.
struct KeySet {
  int64_t n = 0;
  std::vector<std::array<uint8_t, 32>> hashes;
  std::vector<std::string> hits;
};

// A plain in-process array of 128-byte slots, linear probing: the floor.
// Anonymous memory, 2 MiB-aligned, advised for or against huge pages before
// its first touch.
class FloorArray {
 public:
  struct alignas(64) Slot {
    uint8_t hash[32];
    uint8_t payload[96];
  };
  FloorArray(uint64_t capacity, bool huge) : capacity_(capacity) {
    bytes_ = (capacity * sizeof(Slot) + shm::kHugePageSize - 1) / shm::kHugePageSize * shm::kHugePageSize;
    map_bytes_ = bytes_ + shm::kHugePageSize;
    raw_ = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw_ == MAP_FAILED) {
      std::perror("hugepage_bench: mmap of the floor array");
      std::exit(1);
    }
    const uintptr_t a = (uintptr_t(raw_) + shm::kHugePageSize - 1) & ~(uintptr_t(shm::kHugePageSize) - 1);
    slots_ = reinterpret_cast<Slot *>(a);
    madvise(slots_, bytes_, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  ~FloorArray() { munmap(raw_, map_bytes_); }
  FloorArray(const FloorArray &) = delete;
  FloorArray &operator=(const FloorArray &) = delete;

  // `used` marks the slots taken so far (capacity bits, all false at first).
  void insert(const uint8_t h[32], std::vector<bool> &used) {
    uint64_t i = shm::home_slot(shm::hash_word0(h), capacity_);
    while (used[i]) i = i + 1 == capacity_ ? 0 : i + 1;
    used[i] = true;
    std::memcpy(slots_[i].hash, h, 32);
  }
  const Slot &find(const uint8_t h[32]) const {
    uint64_t i = shm::home_slot(shm::hash_word0(h), capacity_);
    while (std::memcmp(slots_[i].hash, h, 32) != 0) i = i + 1 == capacity_ ? 0 : i + 1;
    return slots_[i];
  }
  // Every page is touched: zero the rest so 4K pages are not left unallocated.
  void touch_all() {
    for (uint64_t off = 0; off < bytes_; off += 4096) reinterpret_cast<volatile uint8_t *>(slots_)[off + 127] = 0;
  }
  uint64_t huge_bytes() const { return shm::huge_mapped_bytes(slots_, bytes_); }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t capacity_;
  uint64_t bytes_ = 0, map_bytes_ = 0;
  void *raw_ = nullptr;
  Slot *slots_ = nullptr;
};

// One (size, page size) at a time is alive: 10M keys need ~1.5 GiB for the
// table and as much for the floor.
struct Setup {
  int64_t n = 0;
  bool huge = false;
  std::string name, dir;  // dir: table.directory, "" = /dev/shm
  std::unique_ptr<shm::TableWriter> writer;
  std::unique_ptr<FloorArray> floor;
  ek_validator *reader = nullptr;
  ~Setup() {
    if (reader) ek_close(reader);
    writer.reset();
    if (!name.empty()) shm::TableWriter::destroy(name, dir);
  }
};

std::unique_ptr<KeySet> g_keys;
std::unique_ptr<Setup> g_setup;

const KeySet &keys(int64_t n) {
  if (g_keys && g_keys->n == n) return *g_keys;
  g_setup.reset();
  g_keys.reset();
  auto k = std::make_unique<KeySet>();
  k->n = n;
  k->hashes.resize(size_t(n));
  shm::TokenHasher hasher;
  const uint64_t every = std::max<uint64_t>(1, uint64_t(n) / kSample);
  for (int64_t i = 0; i < n; ++i) {
    std::string tok = shm::generate_token("ek", "sk", "live");
    hasher.hash(tok, k->hashes[size_t(i)].data());
    if (uint64_t(i) % every == 0 && k->hits.size() < kSample) k->hits.push_back(std::move(tok));
  }
  std::shuffle(k->hits.begin(), k->hits.end(), std::mt19937_64(uint64_t(n)));
  g_keys = std::move(k);
  return *g_keys;
}

int validate(ek_validator *v, const std::string &tok) {
  ek_request req{tok.c_str(), nullptr, nullptr, nullptr, nullptr};
  ek_result r;
  ek_validate(v, &req, &r);
  return r.status;
}

Setup &setup(int64_t n, bool huge) {
  if (g_setup && g_setup->n == n && g_setup->huge == huge) return *g_setup;
  g_setup.reset();  // frees the previous one's memory first
  const KeySet &k = keys(n);
  auto s = std::make_unique<Setup>();
  s->n = n;
  s->huge = huge;
  s->name = "ekhuge-" + std::to_string(getpid()) + "-" + std::to_string(n) + (huge ? "-2m" : "-4k");
  shm::TableOptions o;
  o.name = s->name;
  o.permissions = {"chat:write"};
  o.roles = {"developer"};
  o.capacity = uint64_t(double(n + 64) / kMaxLoad);
  if (huge) s->dir = g_hugetlbfs;
  o.directory = s->dir;
  o.huge_pages = huge && s->dir.empty() ? shm::HugePages::Require : shm::HugePages::Off;
  shm::TableWriter::destroy(s->name, s->dir);
  s->writer = std::make_unique<shm::TableWriter>(o);
  s->floor = std::make_unique<FloorArray>(o.capacity, huge);
  shm::TableRecord r;
  r.role = 0;
  r.perms = 1;
  std::vector<bool> used(o.capacity, false);
  for (size_t i = 0; i < k.hashes.size(); ++i) {
    r.hash = k.hashes[i];
    r.key_id = "key_" + std::to_string(i);
    r.workspace = "ws_" + std::to_string(i % 1000);
    s->writer->put(r);
    s->floor->insert(k.hashes[i].data(), used);
  }
  s->floor->touch_all();
  s->writer->heartbeat(int64_t(time(nullptr)));  // the readers' clock, as edgekeyd's tick sets it
  if (ek_open(s->writer->address().c_str(), &s->reader) != 0) {
    std::fprintf(stderr, "hugepage_bench: cannot open table %s\n", s->name.c_str());
    std::exit(1);
  }
  // Fault the reader's mapping in before timing: first-touch faults (one per
  // 4 KiB page, ~390k at 10M keys) are start-up cost, not validate's.
  for (const std::string &tok : k.hits)
    if (validate(s->reader, tok) != 200) {
      std::fprintf(stderr, "hugepage_bench: a sampled key did not validate\n");
      std::exit(1);
    }
  g_setup = std::move(s);
  return *g_setup;
}

// ShmemPmdMapped + Shared_Hugetlb of the whole process (the writer's and the
// reader's mapping; the second for a hugetlbfs table).
uint64_t process_shmem_pmd_bytes() {
  std::ifstream in("/proc/self/smaps_rollup");
  uint64_t kb = 0;
  for (std::string line; std::getline(in, line);)
    for (std::string_view field : {"ShmemPmdMapped:", "Shared_Hugetlb:"})
      if (line.rfind(field, 0) == 0) kb += std::stoull(line.substr(field.size()));
  return kb * 1024;
}

void BM_Floor(benchmark::State &state, int64_t n, bool huge, bool latency) {
  Setup &s = setup(n, huge);
  const std::vector<std::string> &hits = g_keys->hits;
  shm::TokenHasher hasher;
  size_t i = 0;
  for (auto _ : state) {
    uint8_t h[32];
    hasher.hash(hits[i % hits.size()], h);
    benchmark::DoNotOptimize(&s.floor->find(h));
    ++i;
    if (latency) _mm_lfence();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["huge_MiB"] = double(s.floor->huge_bytes() >> 20);
  state.counters["MiB"] = double(s.floor->bytes() >> 20);
}

void BM_ValidateHit(benchmark::State &state, int64_t n, bool huge, bool latency) {
  Setup &s = setup(n, huge);
  const std::vector<std::string> &hits = g_keys->hits;
  size_t i = 0;
  for (auto _ : state) {
    const int st = validate(s.reader, hits[i % hits.size()]);
    if (st != 200) {
      state.SkipWithError("unexpected status");
      break;
    }
    i += 1 + size_t(st >> 10);  // through predicted branches only
    if (latency) _mm_lfence();
  }
  state.SetItemsProcessed(state.iterations());
  // The reader's mapping: the process's PMD-mapped shmem less the writer's.
  const uint64_t all = process_shmem_pmd_bytes(), writer = s.writer->current()->huge_mapped();
  state.counters["huge_MiB"] = double((all > writer ? all - writer : 0) >> 20);
  state.counters["MiB"] = double(s.writer->stats().segment_bytes >> 20);
}

// Collects every repetition and prints medians side by side.
class Summary : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;
  void ReportRuns(const std::vector<Run> &runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run &r : runs)
      if (!r.error_occurred && r.run_type == Run::RT_Iteration) {
        ns_[r.run_name.function_name].push_back(r.GetAdjustedRealTime());
        cpu_[r.run_name.function_name].push_back(r.GetAdjustedCPUTime());
      }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    // Real time is the figure; CPU time shows how much of it a busy machine
    // took away (they agree on an idle one).
    std::printf("\nHuge pages (median of %zu run(s) each, real time [CPU time] ns/op; 4K -> 2M)\n",
                runs_per());
    for (int64_t n : g_sizes) {
      const std::string s = std::to_string(n);
      for (const char *mode : {"latency", "throughput"})
        for (const char *what : {"floor", "validate"}) {
          const std::string k = std::string(what) + "/" + mode, k4 = k + "/4K/" + s, k2 = k + "/2M/" + s;
          const double r4 = median(ns_, k4), r2 = median(ns_, k2);
          if (r4 > 0 && r2 > 0)
            std::printf("  %9s keys, %-10s: %-8s %7.1f [%6.1f] -> %7.1f [%6.1f] ns  (%.2fx)\n", s.c_str(), mode,
                        what, r4, median(cpu_, k4), r2, median(cpu_, k2), r4 / r2);
        }
    }
  }

 private:
  using Times = std::map<std::string, std::vector<double>>;
  static double median(const Times &t, const std::string &k) {
    auto it = t.find(k);
    if (it == t.end() || it->second.empty()) return 0.0;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  size_t runs_per() const { return ns_.empty() ? 0 : ns_.begin()->second.size(); }
  Times ns_, cpu_;
};

}  // namespace

int main(int argc, char **argv) {
  std::vector<char *> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--hugetlbfs=", 12) == 0) g_hugetlbfs = argv[i] + 12;
    else if (!bench::take_sizes_flag(argv[i], g_sizes)) args.push_back(argv[i]);
  }
  const shm::HugePageHost host = shm::huge_page_host();
  if (!host.allows && g_hugetlbfs.empty()) {
    std::printf("hugepage_bench skipped: this host gives /dev/shm no huge pages (%s); to enable: %s; "
                "or pass --hugetlbfs=DIR\n",
                host.describe().c_str(), host.how_to_enable().c_str());
    return 0;
  }
  int ac = int(args.size());
  benchmark::Initialize(&ac, args.data());
  for (int64_t n : g_sizes)
    for (bool huge : {false, true})
      for (bool latency : {true, false}) {
        const std::string tail =
            std::string(latency ? "latency/" : "throughput/") + (huge ? "2M/" : "4K/") + std::to_string(n);
        benchmark::RegisterBenchmark(("floor/" + tail).c_str(), BM_Floor, n, huge, latency)->UseRealTime();
        benchmark::RegisterBenchmark(("validate/" + tail).c_str(), BM_ValidateHit, n, huge, latency)
            ->UseRealTime();
      }
  Summary reporter(isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                                         : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  g_setup.reset();
  return 0;
}
