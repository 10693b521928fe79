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
//
// Run: build-rel/bench/propagation_bench [--keys=1000000] [--revocations=1000]
#include "nats_servers.hpp"
#include "shm/src/hasher.hpp"
#include "shm/src/table_writer.hpp"
#include "shm/src/token.hpp"
#include "sync/key_record.hpp"
#include "sync/nats/nats_streams.hpp"
#include "sync/record_json.hpp"

#include <benchmark/benchmark.h>
#include <edgekey/edgekey.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <openssl/rand.h>
#include <string>
#include <thread>
#include <vector>

using namespace edgekey;
using Clock = std::chrono::steady_clock;

namespace {

size_t g_keys = 1'000'000;
size_t g_revocations = 1000;

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
  EdgeDaemon(const test::NatsTopology &topo, const test::NatsServer &server, const std::string &region,
             const std::string &dir, size_t capacity)
      : table_("ekbench-prop-" + region + "-" + std::to_string(getpid())) {
    shm::TableWriter::destroy(table_);
    const std::string config = dir + "/" + region + ".yaml";
    std::ofstream(config) << "region: " << region << "\nkey_prefix: ek\ntable:\n  name: " << table_
                          << "\n  capacity: " << capacity << "\n  readers_group: \"\"\nsocket:\n  path: " << dir
                          << "/" << region << ".sock\n"
                          << topo.upstream_yaml(server) << "snapshot: " << dir << "/" << region
                          << ".snapshot\nlog_level: info\n";
    started_ = Clock::now();
    pid_ = fork();
    if (pid_ == 0) {
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

 private:
  std::string table_;
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
  for (auto _ : state) {
    EdgeDaemon d(topo, topo.region(0), "in-mum", topo.dir().path(), g_keys + g_keys / 4);
    if (!d.wait_for(probe.token, "ok", std::chrono::minutes(5), std::chrono::milliseconds(1)))
      return state.SkipWithError("not loaded in 5 min");
    const double s = std::chrono::duration<double>(Clock::now() - d.started()).count();
    state.SetIterationTime(s);
    state.counters["keys"] = double(g_keys);
    state.counters["keys_per_s"] = double(g_keys) / s;
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
    else rest.push_back(argv[i]);
  }
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
