// keyset_diff.cpp -- see keyset_diff.hpp.
#include "sync/record/keyset_diff.hpp"

#include <map>
#include <set>

namespace edgekey::sync {

bool same_content(const KeyRecord &a, const KeyRecord &b) {
  KeyRecord x = a;
  x.origin_written_at = b.origin_written_at;
  return x == b;
}

KeysetDiff diff_keysets(const std::vector<KeyRecord> &prev, const std::vector<KeyRecord> &next) {
  using Hash = std::array<uint8_t, 32>;
  std::map<Hash, const KeyRecord *> before;
  for (const auto &r : prev) {
    Hash h;
    if (parse_record_hash(r.hash, h)) before[h] = &r;
  }
  KeysetDiff d;
  std::set<Hash> present;
  for (const auto &r : next) {
    Hash h;
    if (!parse_record_hash(r.hash, h)) continue;
    present.insert(h);
    auto it = before.find(h);
    if (it == before.end() || !same_content(*it->second, r)) d.upserts.push_back(r);
  }
  for (const auto &r : prev) {
    Hash h;
    if (parse_record_hash(r.hash, h) && !present.count(h)) {
      d.removals.push_back(h);
      present.insert(h);  // once, even if prev repeats it
    }
  }
  return d;
}

}  // namespace edgekey::sync
