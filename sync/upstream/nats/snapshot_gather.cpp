// snapshot_gather.cpp -- see snapshot_gather.hpp.
#include "sync/upstream/nats/snapshot_gather.hpp"

#include <utility>

namespace edgekey::sync {

SnapshotGather::SnapshotGather(std::shared_ptr<const Resolver> resolver, size_t expected)
    : resolver_(std::move(resolver)) {
  store_.reserve(expected);
  table_.reserve(expected);
}

void SnapshotGather::put(ValidRecord r) {
  Expected<shm::TableRecord> t = resolver_->resolve(r);
  const std::string &id = r.record().id;
  if (!unresolved_.empty()) unresolved_.erase(id);
  if (!t.ok()) {
    if (const uint32_t old = store_.find_id(id); old != KeyStore::npos) store_.erase(old);
    std::string key = id;
    unresolved_.insert_or_assign(std::move(key), Unresolved{std::move(r), std::move(t.error)});
    return;
  }
  const uint32_t slot = store_.upsert(std::move(r).take(), t.value->hash);
  if (slot == table_.size()) table_.push_back(std::move(*t.value));
  else table_[slot] = std::move(*t.value);
}

void SnapshotGather::remove(std::string_view id) {
  if (const uint32_t old = store_.find_id(id); old != KeyStore::npos) store_.erase(old);
  if (!unresolved_.empty()) unresolved_.erase(std::string(id));
}

PreparedLoad SnapshotGather::finish() {
  PreparedLoad p;
  p.resolver = std::move(resolver_);
  for (auto &[id, u] : unresolved_) {
    p.errors.push_back(std::move(u.error));
    p.unresolved.push_back(std::move(u.record).take());
  }
  unresolved_.clear();
  // Keys replaced or removed: the table must not hold their slots.
  if (store_.slots() != store_.size()) compact(store_, table_);
  p.store = std::move(store_);
  p.table = std::move(table_);
  store_ = KeyStore{};
  table_ = {};
  return p;
}

}  // namespace edgekey::sync
