#include "daemon/edgekeyd/usage_collector.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace edgekey::daemon {

namespace {

constexpr int64_t kHour = 3600;

// A writer we can no longer hear from: gone, or never a process here.
bool process_gone(int64_t pid) {
  if (pid <= 0 || pid > INT32_MAX) return true;
  return kill(pid_t(pid), 0) != 0 && errno == ESRCH;
}

// Readers name segments "<pid>.<n>"; anything else is not read (nor
// written into the state file).
bool plain_name(const std::string &n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n)
    if (!((c >= '0' && c <= '9') || c == '.')) return false;
  return true;
}

// The pid a plain name starts with; 0 when it has none.
int64_t name_pid(const std::string &n) {
  const size_t dot = n.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 10) return 0;
  return std::stoll(n.substr(0, dot));
}

}  // namespace

void KeyUse::add(int64_t now, uint64_t uses) {
  const int64_t h = now / kHour;
  while (!hours.empty() && hours.front().first <= h - 24) hours.erase(hours.begin());
  if (!hours.empty() && hours.back().first == h) hours.back().second += uses;
  else hours.emplace_back(h, uses);
}

uint64_t KeyUse::last_day(int64_t now) const {
  uint64_t n = 0;
  for (const auto &[h, u] : hours)
    if (h > now / kHour - 24) n += u;
  return n;
}

UsageCollector::UsageCollector(std::string table, std::string state_path)
    : table_(std::move(table)), dir_(shm::usage_dir(table_)), state_path_(std::move(state_path)) {}

std::string UsageCollector::prepare(const std::string &group) { return shm::prepare_usage_dir(table_, group); }

const KeyUse *UsageCollector::key(const std::string &id) const {
  auto it = keys_.find(id);
  return it == keys_.end() ? nullptr : &it->second;
}

void UsageCollector::note_use(const std::string &key_id, int64_t now) {
  KeyUse &k = keys_[key_id];
  if (now > k.last_used) changed_.insert(key_id);
  k.last_used = std::max(k.last_used, now);
  k.add(now, 1);
  dirty_ = true;
}

std::vector<std::string> UsageCollector::take_changed() {
  std::vector<std::string> ids(changed_.begin(), changed_.end());
  changed_.clear();
  return ids;
}

// tag -> slot through the store's hash index (a tag is the first 8 bytes
// of the key's hash, 0 written as 1): no map of every key to rebuild after
// each change of the store (1M keys: ~0.3 s of the loop per edit).
const sync::KeyRecord *UsageCollector::resolve(uint64_t tag, const sync::KeyStore &store) {
  uint32_t s = store.find_hash_head(tag);
  if (s == sync::KeyStore::npos && tag == 1) s = store.find_hash_head(0);
  return s == sync::KeyStore::npos ? nullptr : &store.record(s);
}

void UsageCollector::scan(const sync::KeyStore &store, int64_t now,
                          const std::function<void(const sync::KeyRecord &)> &on_revoked_use) {
  const std::vector<std::string> names = shm::usage_segment_names(table_);
  const std::set<std::string> present(names.begin(), names.end());
  for (const std::string &n : names) {
    if (segs_.count(n) || !plain_name(n)) continue;
    Segment s;
    if (!s.view.open(dir_ + "/" + n)) {  // not complete yet, or not a segment
      // One its writer never finished (killed while making it) or cut
      // short: removed once that process is gone (nothing in it to fold).
      const std::string path = dir_ + "/" + n;
      if (const int64_t pid = name_pid(n); pid > 0 && process_gone(pid) && shm::usage_segment_unfinished(path))
        unlink(path.c_str());
      continue;
    }
    s.instance = s.view.instance();
    s.words.assign(s.view.entries(), 0);
    if (auto sv = saved_.find(n); sv != saved_.end()) {
      if (sv->second.instance == s.instance) {  // folded before a restart: go on from there
        s.folded = sv->second.folded;
        for (const auto &[i, w] : sv->second.words)
          if (i < s.words.size()) s.words[i] = w;
        s.final = sv->second.final;
      }
      saved_.erase(sv);
    }
    segs_.emplace(n, std::move(s));
  }
  std::set<int64_t> pids;
  for (auto it = segs_.begin(); it != segs_.end();) {
    Segment &s = it->second;
    if (!present.count(it->first)) {  // removed by its writer (it counted nothing) or by us
      it = segs_.erase(it);
      continue;
    }
    if (!s.final) {
      // A writer that is gone before the copy, or retired in it, wrote
      // everything the copy holds. A copy that fails (the file truncated
      // under us) is not folded.
      const bool gone = process_gone(s.view.pid());
      if (!s.view.read()) {  // its writer truncated it: nothing more to fold from it
        if (gone) {
          s.final = true;
          dirty_ = true;
        }
        ++it;
        continue;
      }
      const bool done = gone || s.view.retired();
      fold(s, store, now, on_revoked_use);
      if (done) {
        s.final = true;
        dirty_ = true;
      } else {
        pids.insert(s.view.pid());
      }
    }
    ++it;
  }
  saved_.clear();  // watermarks of segments gone while edgekeyd was down
  readers_ = pids.size();
}

void UsageCollector::fold(Segment &s, const sync::KeyStore &store, int64_t now,
                          const std::function<void(const sync::KeyRecord &)> &on_revoked_use) {
  for (int c = 0; c < shm::kUsageCounters; ++c) {
    const uint64_t v = s.view.counter(c);
    if (v <= s.folded[c]) continue;  // counts only grow: a smaller one is not news
    const uint64_t d = v - s.folded[c];
    s.folded[c] = v;
    if (c < EK_CODE_COUNT_) library_[c] += d;
    else if (c == shm::kUsageUnattributed) unattributed_ += d;
    dirty_ = true;
  }
  const uint32_t n = s.view.entries();
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t w = s.view.word(i);
    if (w == s.words[i]) continue;
    const uint64_t tag = s.view.tag(i);
    if (tag == 0) continue;  // copied before its writer set the tag: the next copy has it
    const uint32_t uses = shm::usage_uses(w) - shm::usage_uses(s.words[i]);
    s.words[i] = w;
    dirty_ = true;
    if (uses == 0) continue;
    const sync::KeyRecord *r = resolve(tag, store);
    if (!r) continue;  // a key removed since
    // A time from the segment is not trusted past the collector's clock.
    const int64_t last = std::min(shm::usage_last(w), now);
    KeyUse &k = keys_[r->id];
    if (last > k.last_used) changed_.insert(r->id);
    k.last_used = std::max(k.last_used, last);
    k.add(now, uses);
    if (r->status == sync::KeyStatus::Revoked && (!r->revoked_at || last >= *r->revoked_at))
      on_revoked_use(*r);
  }
}

}  // namespace edgekey::daemon
