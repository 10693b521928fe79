#include "sync/upstream/applier.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <utility>

namespace edgekey::sync {

Applier::Applier(shm::TableWriter &writer, const Policy &policy, RejectFn on_reject)
    : writer_(writer), resolver_(std::make_shared<const Resolver>(policy)), on_reject_(std::move(on_reject)) {
  revision_ = writer_.revision();
}

std::shared_ptr<const Resolver> Applier::resolver() const {
  std::lock_guard<std::mutex> lock(resolver_mu_);
  return resolver_;
}

void Applier::reject(const std::string &why) {
  ++rejected_;
  if (on_reject_) on_reject_(why);
}

std::optional<shm::TableRecord> Applier::resolve(const ValidRecord &r) {
  Expected<shm::TableRecord> t = resolver_->resolve(r);
  if (!t.ok()) {
    reject(t.error);
    return std::nullopt;
  }
  return std::move(*t.value);
}

void Applier::set_revision(uint64_t revision) {
  if (revision > revision_) revision_ = revision;
  writer_.set_revision(revision_);
}

void Applier::load(std::vector<KeyRecord> records, uint64_t revision) {
  load_prepared(prepare_load(std::move(records), resolver_), revision);
}

void Applier::load_prepared(PreparedLoad p, uint64_t revision) {
  if (p.resolver != resolver_) {  // the policy changed since: resolve everything again
    std::vector<KeyRecord> records;
    std::vector<TokenHash> hashes;
    p.store.release(records, hashes);
    std::erase_if(records, [](const KeyRecord &r) { return r.id.empty(); });
    for (auto &r : p.unresolved) records.push_back(std::move(r));
    return load(std::move(records), revision);
  }
  for (const auto &e : p.errors) reject(e);
  std::vector<size_t> rejected;
  try {
    writer_.load(p.table, &rejected);
  } catch (const shm::TableError &e) {  // no room for a new generation
    room_problem_ = e.what();
    return load_into_current(std::move(p), revision);
  }
  for (size_t i : rejected) {  // the table's own limits (resolve checks them first)
    reject("key " + p.table[i].key_id + ": does not fit the table: skipped");
    p.store.erase(uint32_t(i));
  }
  store_ = std::move(p.store);
  unplaced_.clear();
  room_problem_.clear();
  revision_ = revision;  // a snapshot may restart the count (a recreated stream)
  writer_.set_revision(revision_);
}

void Applier::load_into_current(PreparedLoad p, uint64_t revision) {
  std::vector<KeyRecord> records;
  std::vector<TokenHash> hashes;
  p.store.release(records, hashes);
  std::erase_if(records, [](const KeyRecord &r) { return r.id.empty(); });
  std::set<std::string> ids;
  for (const auto &r : records) ids.insert(r.id);
  std::vector<std::string> gone;  // what the snapshot lacks
  store_.for_each([&](uint32_t slot) {
    if (!ids.count(store_.record(slot).id)) gone.push_back(store_.record(slot).id);
  });
  for (const auto &id : gone) remove_id(id, revision);
  std::erase_if(unplaced_, [&](const auto &e) { return !ids.count(e.first); });
  for (const auto &r : records) upsert(r, revision);
  revision_ = revision;  // a snapshot may restart the count (a recreated stream)
  writer_.set_revision(revision_);
}

bool Applier::upsert(const KeyRecord &r, uint64_t revision) {
  Expected<ValidRecord> v = validate(KeyRecord(r));
  if (!v.ok()) {
    reject(v.error);
    return false;
  }
  return upsert(*v.value, revision);
}

bool Applier::upsert(const ValidRecord &v, uint64_t revision) {
  auto t = resolve(v);
  if (!t) return false;
  const KeyRecord &r = v.record();
  shm::WriteError e = writer_.put(*t);
  if (e == shm::WriteError::NoRoom) {
    room_problem_ = writer_.room_problem();
    unplaced_.insert_or_assign(r.id, v);
    set_revision(revision);  // the snapshot on disk keeps the record (records())
    return false;
  }
  if (e != shm::WriteError::None) {
    reject("key " + r.id + ": " + shm::write_error_text(e));
    return false;
  }
  std::optional<TokenHash> replaced;
  store_.upsert(r, t->hash, &replaced);
  if (replaced) writer_.remove(*replaced);  // same id, new hash: drop the old key
  unplaced_.erase(r.id);
  set_revision(revision);
  return true;
}

size_t Applier::retry_unplaced() {
  if (unplaced_.empty() || (!removed_since_retry_ && !writer_.room_to_grow())) return 0;
  removed_since_retry_ = false;
  std::map<std::string, ValidRecord> pending = std::exchange(unplaced_, {});
  size_t placed = 0;
  for (auto it = pending.begin(); it != pending.end(); ++it) {
    if (upsert(it->second, revision_)) {
      ++placed;
    } else if (unplaced_.count(it->first)) {  // still no room: the rest wait as they are
      unplaced_.insert(std::next(it), pending.end());
      break;
    }
  }
  if (unplaced_.empty()) room_problem_.clear();
  return placed;
}

void Applier::forget_unplaced(const TokenHash &h) {
  std::erase_if(unplaced_, [&](const auto &e) { return e.second.hash() == h; });
}

bool Applier::remove_id(const std::string &id, uint64_t revision) {
  set_revision(revision);
  const bool was_unplaced = unplaced_.erase(id) > 0;
  const uint32_t slot = store_.find_id(id);
  if (slot == KeyStore::npos) return was_unplaced;
  writer_.remove(store_.hash(slot));
  store_.erase(slot);
  removed_since_retry_ = true;
  return true;
}

void Applier::apply(const KeysetDiff &d, uint64_t revision) {
  for (const auto &h : d.removals) {
    removed_since_retry_ |= writer_.remove(h);
    forget_unplaced(h);
    const uint32_t slot = store_.find_hash(h);
    if (slot != KeyStore::npos) store_.erase(slot);
  }
  for (const auto &r : d.upserts) upsert(r, revision);
  set_revision(revision);
}

void Applier::contact(int64_t unix_s) { writer_.touch_contact(unix_s); }

// Failure-atomic where it matters: the records stay in the store (each read
// through one copy to resolve it) and the new table is built aside, so a
// failure before the new generation is published (no memory) leaves the
// store, the table and the resolver as they were -- the old policy serving.
void Applier::set_policy(const Policy &policy) {
  auto resolver = std::make_shared<const Resolver>(policy);
  std::vector<shm::TableRecord> table;
  std::vector<uint32_t> slot_of;  // table[j] is the record of store_ slot slot_of[j]
  std::vector<uint32_t> gone;     // slots whose record no longer resolves
  std::vector<std::string> errors;
  table.reserve(store_.size());
  slot_of.reserve(store_.size());
  store_.for_each([&](uint32_t slot) {
    Expected<ValidRecord> v = validate(KeyRecord(store_.record(slot)));
    Expected<shm::TableRecord> t = v.ok() ? resolver->resolve(*v.value) : Expected<shm::TableRecord>::failure(v.error);
    if (!t.ok()) {
      errors.push_back(std::move(t.error));
      gone.push_back(slot);
      return;
    }
    table.push_back(std::move(*t.value));
    slot_of.push_back(slot);
  });
  std::vector<size_t> rejected;
  try {
    writer_.load(table, &rejected);
  } catch (const shm::TableError &e) {  // no room for a new generation: key by key into the one serving
    room_problem_ = e.what();
    set_resolver(std::move(resolver));
    std::vector<std::string> gone_ids;
    for (uint32_t slot : gone) gone_ids.push_back(store_.record(slot).id);
    for (const std::string &id : gone_ids) remove_id(id, revision_);
    for (uint32_t slot : slot_of)
      if (store_.live(slot)) upsert(KeyRecord(store_.record(slot)), revision_);
    for (auto &e : errors) reject(e);
    return;
  }
  set_resolver(std::move(resolver));
  for (size_t j : rejected) {
    reject("key " + table[j].key_id + ": does not fit the table: skipped");
    gone.push_back(slot_of[j]);
  }
  for (uint32_t slot : gone) store_.erase(slot);
  for (auto &e : errors) reject(e);
  room_problem_.clear();
  writer_.set_revision(revision_);
  // The keys kept aside for want of room, resolved under the new policy.
  std::map<std::string, ValidRecord> pending = std::exchange(unplaced_, {});
  for (auto &[id, v] : pending) upsert(v, revision_);
}

void Applier::set_resolver(std::shared_ptr<const Resolver> r) {
  std::lock_guard<std::mutex> lock(resolver_mu_);
  resolver_ = std::move(r);
}

const KeyRecord *Applier::find_id(const std::string &id) const {
  const uint32_t slot = store_.find_id(id);
  if (slot != KeyStore::npos) return &store_.record(slot);
  const auto it = unplaced_.find(id);
  return it == unplaced_.end() ? nullptr : &it->second.record();
}

std::vector<KeyRecord> Applier::records() const {
  // Sorted on a copy of each id's first bytes (zero-padded: no id holds a
  // NUL), the whole ids compared only on a tie: 1M records sort without a
  // cache miss per comparison.
  struct Entry {
    std::array<char, 16> head{};
    uint32_t slot;
  };
  std::vector<Entry> order;
  order.reserve(store_.size());
  store_.for_each([&](uint32_t slot) {
    Entry e;
    e.slot = slot;
    const std::string &id = store_.record(slot).id;
    std::memcpy(e.head.data(), id.data(), std::min(id.size(), e.head.size()));
    order.push_back(e);
  });
  std::sort(order.begin(), order.end(), [&](const Entry &a, const Entry &b) {
    const int c = std::memcmp(a.head.data(), b.head.data(), a.head.size());
    return c != 0 ? c < 0 : store_.record(a.slot).id < store_.record(b.slot).id;
  });
  std::vector<KeyRecord> out;
  out.reserve(order.size() + unplaced_.size());
  for (const Entry &e : order) out.push_back(store_.record(e.slot));
  if (!unplaced_.empty()) {  // rare: merged in id order
    const size_t mid = out.size();
    for (const auto &[id, r] : unplaced_) out.push_back(r.record());
    std::inplace_merge(out.begin(), out.begin() + mid, out.end(),
                       [](const KeyRecord &a, const KeyRecord &b) { return a.id < b.id; });
  }
  return out;
}

}  // namespace edgekey::sync
