// usage_state.cpp -- the collector's state file: totals, per-segment
// watermarks and per-key use, one text file replaced atomically (never a
// token: key ids only). Format, one record a line:
//   edgekey-usage 1
//   library <n per ek_code>          socket <n per ek_code>      unattributed <n>
//   segment <name> <instance> <final 0|1> <folded counter>...
//   w <entry index> <word>           (the watermarks of the segment above)
//   key <last_used> <hour>:<uses>,... <id>   ("-" for no hours; the id ends the line)
#include "daemon/edgekeyd/usage_collector.hpp"

#include "sync/record/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace edgekey::daemon {

namespace {

void append_counts(std::string &out, const char *what, const uint64_t *v, size_t n) {
  out.append(what);
  for (size_t i = 0; i < n; ++i) out.append(" ").append(std::to_string(v[i]));
  out.append("\n");
}

template <size_t N>
bool read_counts(std::istringstream &in, std::array<uint64_t, N> &out) {
  for (auto &v : out)
    if (!(in >> v)) return false;
  return true;
}

}  // namespace

std::string UsageCollector::state_text(const CodeCounts &socket_total) const {
  std::string out = "edgekey-usage 1\n";
  append_counts(out, "library", library_.data(), library_.size());
  append_counts(out, "socket", socket_total.data(), socket_total.size());
  out.append("unattributed ").append(std::to_string(unattributed_)).append("\n");
  for (const auto &[name, s] : segs_) {
    out.append("segment ").append(name).append(" ").append(std::to_string(s.instance)).append(s.final ? " 1" : " 0");
    append_counts(out, "", s.folded.data(), s.folded.size());
    if (s.final) continue;  // removed after this save: its words are not needed again
    char buf[64];
    for (size_t i = 0; i < s.words.size(); ++i)
      if (s.words[i]) {
        snprintf(buf, sizeof buf, "w %zu %llu\n", i, (unsigned long long)s.words[i]);
        out.append(buf);
      }
  }
  for (const auto &[id, k] : keys_) {
    out.append("key ").append(std::to_string(k.last_used)).append(" ");
    if (k.hours.empty()) out.append("-");
    for (size_t i = 0; i < k.hours.size(); ++i)
      out.append(i ? "," : "").append(std::to_string(k.hours[i].first)).append(":").append(
          std::to_string(k.hours[i].second));
    out.append(" ").append(id).append("\n");
  }
  return out;
}

bool UsageCollector::parse_state(const std::string &text) {
  std::istringstream lines(text);
  std::string line;
  if (!std::getline(lines, line) || line != "edgekey-usage 1") return false;
  Saved *seg = nullptr;
  while (std::getline(lines, line)) {
    std::istringstream in(line);
    std::string what;
    in >> what;
    if (what == "library") {
      if (!read_counts(in, library_)) return false;
    } else if (what == "socket") {
      if (!read_counts(in, socket_saved_)) return false;
    } else if (what == "unattributed") {
      if (!(in >> unattributed_)) return false;
    } else if (what == "segment") {
      std::string name;
      Saved s;
      int final = 0;
      if (!(in >> name >> s.instance >> final) || !read_counts(in, s.folded)) return false;
      s.final = final != 0;
      seg = &(saved_[name] = std::move(s));
    } else if (what == "w") {
      uint32_t i;
      uint64_t w;
      if (!seg || !(in >> i >> w)) return false;
      seg->words.emplace_back(i, w);
    } else if (what == "key") {
      KeyUse k;
      std::string hours, id;
      if (!(in >> k.last_used >> hours) || in.get() != ' ' || !std::getline(in, id) || id.empty()) return false;
      if (hours != "-") {
        std::istringstream hs(hours);
        std::string h;
        while (std::getline(hs, h, ',')) {
          long long hour;
          unsigned long long n;
          if (sscanf(h.c_str(), "%lld:%llu", &hour, &n) != 2) return false;
          k.hours.emplace_back(hour, n);
        }
      }
      keys_[id] = std::move(k);
    } else if (!what.empty()) {
      return false;
    }
  }
  return true;
}

std::string UsageCollector::load_state() {
  if (state_path_.empty()) return "";
  std::ifstream f(state_path_, std::ios::binary);
  if (!f) return "";  // none yet
  std::stringstream ss;
  ss << f.rdbuf();
  if (parse_state(ss.str())) return "";
  library_ = {};
  socket_saved_ = {};
  unattributed_ = 0;
  saved_.clear();
  keys_.clear();
  return "usage state " + state_path_ + " does not parse: usage counts start from zero";
}

std::string UsageCollector::save_state(const CodeCounts &socket_total, int64_t now, bool force) {
  bool finals = false;
  for (const auto &[n, s] : segs_) finals |= s.final;
  std::string problem;
  if (!state_path_.empty()) {
    const bool changed = dirty_ || socket_total != socket_at_save_;
    if (!force && !finals && (!changed || now - saved_at_ < 10)) return "";
    try {
      sync::replace_file_atomically(state_path_, state_text(socket_total), 0640);
      dirty_ = false;
      socket_at_save_ = socket_total;
      saved_at_ = now;
    } catch (const std::exception &e) {
      // Segments stay until a save records them as folded.
      return std::string("usage state not saved: ") + e.what();
    }
  }
  for (auto it = segs_.begin(); it != segs_.end();) {
    // Kept (final, never folded again) if it cannot be removed.
    if (it->second.final && (unlink((dir_ + "/" + it->first).c_str()) == 0 || errno == ENOENT)) {
      it = segs_.erase(it);
    } else {
      ++it;
    }
  }
  return problem;
}

}  // namespace edgekey::daemon
