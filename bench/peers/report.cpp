// report.cpp -- see report.hpp.
#include "report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

namespace edgekey::bench {

[[noreturn]] void fatal(const char *msg);

const std::vector<std::string> kPeerOrder = {"edgekey", "edgekey-2m", "floor", "lmdb",
                                             "boost",   "redis",      "edgekeyd"};

namespace {

const PeerResults *g_r = nullptr;

const std::map<std::string, std::string> kShort = {
    {"edgekey", "edgekey"}, {"edgekey-2m", "edgekey, 2 MiB pages"}, {"floor", "floor"},
    {"lmdb", "LMDB"},       {"boost", "Boost.IPC map"},        {"redis", "Redis (socket)"},
    {"edgekeyd", "edgekeyd (socket)"},
};
const std::map<std::string, std::string> kLabel = {
    {"edgekey", "edgekey (ek_validate)"},
    {"edgekey-2m", "edgekey, table in 2 MiB pages (huge_pages, or hugetlbfs)"},
    {"floor", "floor (SHA-256 + array probe)"},
    {"lmdb", "LMDB (mdb_get, RDONLY txn)"},
    {"boost", "Boost.Interprocess map + sharable lock"},
    {"redis", "Redis GET (hiredis, Unix socket)"},
    {"edgekeyd", "edgekeyd HTTP (Unix socket)"},
};

const PeerRun *get(int64_t n, const std::string &peer, int threads) {
  auto it = g_r->runs.find({n, peer, threads});
  return it == g_r->runs.end() ? nullptr : &it->second;
}
double ns_of(const PeerRun &r, int threads) { return 1e9 * threads / r.ops; }

std::string fmt_ops(double ops) {
  char b[32];
  if (ops >= 1e6) snprintf(b, sizeof b, "%.2f M", ops / 1e6);
  else if (ops >= 1e3) snprintf(b, sizeof b, "%.1f k", ops / 1e3);
  else snprintf(b, sizeof b, "%.0f", ops);
  return b;
}
std::string fmt_keys(int64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1'000 && n % 1'000 == 0) return std::to_string(n / 1'000) + "k";
  return std::to_string(n);
}
std::string label(int64_t n, const std::string &peer) {
  std::string l = kLabel.at(peer);
  if (peer == "edgekeyd" && g_r->head.at(n) < n) l += ", " + fmt_keys(g_r->head.at(n)) + " keys";
  return l;
}

// The table (markdown, also printed) and the target lines.
std::string report_table_impl(const PeerResults &results) {
  g_r = &results;
  std::ostringstream o;
  char line[512];
  for (int64_t n : g_r->sizes) {
    int reps = 0;
    for (auto &[k, r] : g_r->runs)
      if (std::get<0>(k) == n) reps = std::max(reps, r.reps);
    const char *mix = g_r->only.empty()            ? "half hits / half misses"
                      : g_r->only == "hits"        ? "hits only"
                      : g_r->only == "alternating" ? "hits and misses alternating"
                                                   : "misses only";
    o << "\n### " << fmt_keys(n) << " keys, " << mix << " (median of " << std::max(reps, 1)
      << " runs)\n\n";
    o << "| peer | threads | ns/request (per thread) | requests/s (all threads) | × edgekey |\n";
    o << "|---|---:|---:|---:|---:|\n";
    for (const std::string &peer : g_r->peers)
      for (int t : {1, 2}) {
        const PeerRun *r = get(n, peer, t);
        if (!r) continue;
        const PeerRun *ek = get(n, "edgekey", t);
        std::string ratio = ek ? "" : "–";
        if (ek) {
          snprintf(line, sizeof line, "%.2f", ns_of(*r, t) / ns_of(*ek, t));
          ratio = line;
        }
        snprintf(line, sizeof line, "| %s | %d | %.0f | %s | %s |\n", label(n, peer).c_str(), t, ns_of(*r, t),
                 fmt_ops(r->ops).c_str(), ratio.c_str());
        o << line;
      }
    o << "\nTargets (ratios of ns/request, same run):\n\n";
    // peer / base (or base / peer) at t threads; -1 when either did not run.
    auto ratio = [&](const std::string &peer, int t, bool peer_over_ek,
                     const char *base = "edgekey") -> double {
      const PeerRun *p = get(n, peer, t), *ek = get(n, base, t);
      if (!p || !ek) return -1;
      return peer_over_ek ? ns_of(*p, t) / ns_of(*ek, t) : ns_of(*ek, t) / ns_of(*p, t);
    };
    auto target = [&](const char *what, double v, const char *cmp, double goal) {
      if (v < 0) return;
      const bool met = std::string(cmp) == "<=" ? v <= goal : std::string(cmp) == ">=" ? v >= goal : v > goal;
      snprintf(line, sizeof line, "- %s: %.2f (target %s %g) — %s\n", what, v, cmp, goal, met ? "met" : "**not met**");
      o << line;
    };
    target("edgekey / floor, 1 thread", ratio("floor", 1, false), "<=", 1.2);
    target("edgekey / floor, 2 threads", ratio("floor", 2, false), "<=", 1.2);
    target("LMDB / edgekey, 1 thread", ratio("lmdb", 1, true), ">=", 3);
    target("LMDB / edgekey, 2 threads", ratio("lmdb", 2, true), ">", 1);
    target("Boost map / edgekey, 1 thread", ratio("boost", 1, true), ">=", 2);
    target("Boost map / edgekey, 2 threads", ratio("boost", 2, true), ">", 1);
    // The issue gives the Redis target without a thread count: both are held
    // to it (at two, two clients and redis-server share the two cores).
    target("Redis / edgekey, 1 thread", ratio("redis", 1, true), ">=", 100);
    target("Redis / edgekey, 2 threads", ratio("redis", 2, true), ">=", 100);
    // Where the host gives /dev/shm huge pages: the same targets against the
    // table in 2 MiB pages, for information (the peers keep 4 KiB pages).
    for (const char *peer : {"lmdb", "boost"})
      for (int t : {1, 2}) {
        const double v = ratio(peer, t, true, "edgekey-2m");
        if (v < 0) continue;
        snprintf(line, sizeof line, "- %s / edgekey with 2 MiB pages, %d thread%s: %.2f (for information)\n",
                 kShort.at(peer).c_str(), t, t == 1 ? "" : "s", v);
        o << line;
      }
    o << "\nLoad time (building each store from the hashes, and the check pass): ";
    bool first = true;
    for (const std::string &p : g_r->peers) {
      if (!g_r->load_s.at(n).count(p)) continue;
      snprintf(line, sizeof line, "%s%s %.2f s", first ? "" : ", ", p.c_str(), g_r->load_s.at(n).at(p));
      o << line;
      first = false;
    }
    o << ".\n";
    snprintf(line, sizeof line,
             "\n1-minute load average before / after the runs: %.2f / %.2f on %ld CPUs (the figures "
             "are only comparable when the machine is otherwise idle).\n",
             g_r->load_avg.at(n).first, g_r->load_avg.at(n).second, sysconf(_SC_NPROCESSORS_ONLN));
    o << line;
  }
  return o.str();
}

void write_outputs_impl(const PeerResults &results, const std::string &dir, const std::string &table) {
  g_r = &results;
  if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) fatal("cannot create the output directory");
  utsname u{};
  uname(&u);
  char when[64];
  time_t now = time(nullptr);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
  std::string cpu;
  {
    std::ifstream f("/proc/cpuinfo");
    for (std::string l; std::getline(f, l);)
      if (l.rfind("model name", 0) == 0) {
        cpu = l.substr(l.find(':') + 2);
        break;
      }
  }
  {
    std::ofstream md(dir + "/peers.md");
    md << "# peers_bench\n\n`" << g_r->command << "` — " << when << ", " << cpu << ", " << sysconf(_SC_NPROCESSORS_ONLN)
       << " CPUs, " << u.release << "\n" << table;
  }
  {
    std::ofstream csv(dir + "/peers.csv");
    csv << "keys,peer,threads,ns_per_request,requests_per_s,ratio_to_edgekey\n";
    for (auto &[k, r] : g_r->runs) {
      auto [n, peer, t] = k;
      const PeerRun *ek = get(n, "edgekey", t);
      csv << n << "," << peer << "," << t << "," << ns_of(r, t) << "," << r.ops << ","
          << (ek ? ns_of(r, t) / ns_of(*ek, t) : 0) << "\n";
    }
  }
  // Chart: ns/request per peer (log scale), one bar per size and thread count.
  std::vector<std::pair<int64_t, int>> series;
  for (int64_t n : g_r->sizes)
    for (int t : {1, 2})
      if (get(n, "edgekey", t) || get(n, "floor", t)) series.push_back({n, t});
  {
    std::ofstream dat(dir + "/peers.dat");
    dat << "peer";
    for (auto [n, t] : series) dat << " \"" << fmt_keys(n) << " keys, " << t << (t == 1 ? " thread" : " threads") << "\"";
    dat << "\n";
    for (const std::string &peer : g_r->peers) {
      std::string l = kShort.at(peer);
      if (peer == "edgekeyd" && g_r->head.at(g_r->sizes.front()) < g_r->sizes.front())
        l = "edgekeyd (socket, " + fmt_keys(g_r->head.at(g_r->sizes.front())) + " keys)";
      dat << "\"" << l << "\"";
      for (auto [n, t] : series) {
        const PeerRun *r = get(n, peer, t);
        if (r) dat << " " << ns_of(*r, t);
        else dat << " NaN";
      }
      dat << "\n";
    }
  }
  {
    const size_t m = series.size();
    std::ofstream gp(dir + "/peers.gp");
    gp << "# Written by peers_bench; run from this directory: gnuplot peers.gp\n"
       << "set terminal pngcairo size 1400,640 font 'Sans,10'\n"
       << "set output 'peers.png'\n"
       << "set title \"edgekey beside its peers: ns per request (SHA-256 + lookup), median, log scale — "
       << when << "\"\n"
       << "set key autotitle columnheader\n"
       << "set style data histogram\nset style histogram clustered gap 1\n"
       << "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
       << "set logscale y\nset yrange [100:*]\nset format y '%g'\nset ylabel 'ns per request, per thread (lower is better)'\n"
       << "set grid ytics\nset key top left\nset xtics noenhanced\nset key noenhanced\n"
       << "set xtics scale 0\n"
       << "plot for [i=2:" << m + 1 << "] 'peers.dat' using i:xtic(1) title columnheader(i)";
    // Values over the bars: cluster k is centred at x = k, bar j at k + (j - (m-1)/2) / (m + gap).
    for (size_t j = 0; j < m; ++j)
      gp << ", \\\n  'peers.dat' using ($0 + (" << j << " - " << (double(m) - 1) / 2 << ") / " << m + 1 << "):"
         << j + 2 << ":(sprintf('%.0f', column(" << j + 2 << "))) with labels offset 0,0.7 font 'Sans,7' notitle";
    gp << "\n";
  }
  const std::string cmd = "cd '" + dir + "' && gnuplot peers.gp";
  if (std::system(cmd.c_str()) != 0) fprintf(stderr, "peers_bench: gnuplot failed (%s)\n", cmd.c_str());
  else printf("\nWrote %s/peers.md, peers.csv, peers.dat, peers.gp, peers.png\n", dir.c_str());
}

}  // namespace

bool known_peer(const std::string &peer) { return kLabel.count(peer) != 0; }
std::string report_table(const PeerResults &results) { return report_table_impl(results); }
void write_outputs(const PeerResults &results, const std::string &dir, const std::string &table) {
  write_outputs_impl(results, dir, table);
}

}  // namespace edgekey::bench
