// report.hpp -- peers_bench's results: the table, the target lines, and the
// files for bench/results (markdown, CSV, gnuplot data and script, PNG).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace edgekey::bench {

struct PeerRun {
  double ops = 0;  // requests/s, all threads (median of the repetitions)
  int reps = 0;
  std::vector<double> rep_ops;  // each repetition's requests/s, in the order they ended
};

// The two ways peers_bench measures (its header): "latency" (an lfence after
// each request) and "throughput" (back to back).
struct PeerResults {
  std::vector<int64_t> sizes;
  std::vector<std::string> peers;  // in display order
  std::vector<std::string> modes;  // "latency", "throughput" (those run)
  std::string only, command;       // workload restriction ("" = half hits / half misses); argv
  // (keys, peer, threads, mode)
  std::map<std::tuple<int64_t, std::string, int, std::string>, PeerRun> runs;
  std::map<int64_t, std::map<std::string, double>> load_s;        // seconds to build each store
  std::map<int64_t, int64_t> head;                                // edgekeyd's key count
  std::map<int64_t, std::pair<double, double>> load_avg;          // 1-min load average before / after
};

// The peers in display order, edgekey first.
extern const std::vector<std::string> kPeerOrder;
bool known_peer(const std::string &peer);

// The markdown table per size with ratios to edgekey, and the target lines.
std::string report_table(const PeerResults &results);

// Writes dir/peers.{md,csv,dat,gp} and runs gnuplot for dir/peers.png.
void write_outputs(const PeerResults &results, const std::string &dir, const std::string &table);

}  // namespace edgekey::bench
