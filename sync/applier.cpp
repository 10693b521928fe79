#include "sync/applier.hpp"

#include <algorithm>

namespace edgekey::sync {

Applier::Applier(shm::TableWriter &writer, const ResolvePolicy &policy, RejectFn on_reject)
    : writer_(writer), resolver_(policy), on_reject_(std::move(on_reject)) {
  revision_ = writer_.revision();
}

std::optional<shm::TableRecord> Applier::resolve(const KeyRecord &r) {
  Result<shm::TableRecord> t = resolver_.resolve(r);
  if (!t.ok()) {
    ++rejected_;
    if (on_reject_) on_reject_(t.error);
    return std::nullopt;
  }
  return std::move(*t.value);
}

void Applier::set_revision(uint64_t revision) {
  if (revision > revision_) revision_ = revision;
  writer_.set_revision(revision_);
}

void Applier::index(KeyRecord r, const std::array<uint8_t, 32> &hash) {
  id_by_hash_[hash] = r.id;
  std::string id = r.id;
  by_id_.insert_or_assign(std::move(id), std::move(r));
}

void Applier::unindex(const std::string &id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  std::array<uint8_t, 32> h;
  if (parse_record_hash(it->second.hash, h)) id_by_hash_.erase(h);
  by_id_.erase(it);
}

void Applier::load(std::vector<KeyRecord> records, uint64_t revision) {
  std::vector<shm::TableRecord> table;
  std::vector<size_t> source;  // records index of table[i]
  table.reserve(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    auto t = resolve(records[i]);
    if (!t) continue;
    table.push_back(std::move(*t));
    source.push_back(i);
  }
  std::vector<size_t> rejected;
  writer_.load(table, &rejected);
  std::vector<bool> skip(table.size(), false);
  for (size_t i : rejected) {  // the table's own limits (resolve checks them first)
    ++rejected_;
    skip[i] = true;
    if (on_reject_) on_reject_("key " + table[i].key_id + ": does not fit the table: skipped");
  }
  by_id_.clear();
  id_by_hash_.clear();
  by_id_.reserve(table.size());
  id_by_hash_.reserve(table.size());
  for (size_t i = 0; i < table.size(); ++i)
    if (!skip[i]) index(std::move(records[source[i]]), table[i].hash);
  changes_ += table.size();
  revision_ = revision;  // a snapshot may restart the count (a recreated stream)
  writer_.set_revision(revision_);
}

bool Applier::upsert(const KeyRecord &r, uint64_t revision) {
  auto t = resolve(r);
  if (!t) return false;
  shm::WriteError e = writer_.put(*t);
  if (e != shm::WriteError::None) {
    ++rejected_;
    if (on_reject_) on_reject_("key " + r.id + ": " + shm::write_error_text(e));
    return false;
  }
  auto old = by_id_.find(r.id);
  if (old != by_id_.end() && old->second.hash != r.hash) {  // same id, new hash: drop the old key
    std::array<uint8_t, 32> h;
    if (parse_record_hash(old->second.hash, h)) writer_.remove(h);
    unindex(r.id);
  }
  auto other = id_by_hash_.find(t->hash);  // same hash under another id: that id is gone
  if (other != id_by_hash_.end() && other->second != r.id) unindex(std::string(other->second));
  index(r, t->hash);
  ++changes_;
  set_revision(revision);
  return true;
}

bool Applier::remove_id(const std::string &id, uint64_t revision) {
  set_revision(revision);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  std::array<uint8_t, 32> h;
  if (parse_record_hash(it->second.hash, h)) writer_.remove(h);
  unindex(id);
  ++changes_;
  return true;
}

void Applier::apply(const KeysetDiff &d, uint64_t revision) {
  for (const auto &h : d.removals) {
    writer_.remove(h);
    auto it = id_by_hash_.find(h);
    if (it != id_by_hash_.end()) {
      unindex(std::string(it->second));
      ++changes_;
    }
  }
  for (const auto &r : d.upserts) upsert(r, revision);
  set_revision(revision);
}

void Applier::contact(int64_t unix_s) { writer_.touch_contact(unix_s); }

void Applier::set_policy(const ResolvePolicy &policy) {
  resolver_ = Resolver(policy);
  load(records(), revision_);
}

const KeyRecord *Applier::find_id(const std::string &id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::vector<KeyRecord> Applier::records() const {
  std::vector<KeyRecord> out;
  out.reserve(by_id_.size());
  for (const auto &[id, r] : by_id_) out.push_back(r);
  std::sort(out.begin(), out.end(), [](const KeyRecord &a, const KeyRecord &b) { return a.id < b.id; });
  return out;
}

}  // namespace edgekey::sync
