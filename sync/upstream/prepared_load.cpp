// prepared_load.cpp -- see prepared_load.hpp.
#include "sync/upstream/prepared_load.hpp"

namespace edgekey::sync {

namespace {

// Resolves `v` into p.table (true), or files it with why under p.unresolved
// (false; v is moved from).
bool resolve_into(PreparedLoad &p, ValidRecord &v) {
  Expected<shm::TableRecord> t = p.resolver->resolve(v);
  if (!t.ok()) {
    p.errors.push_back(std::move(t.error));
    p.unresolved.push_back(std::move(v).take());
    return false;
  }
  p.table.push_back(std::move(*t.value));
  return true;
}

// Indexes the records that resolved (records[i] -> p.table[i]).
PreparedLoad finish(PreparedLoad p, std::vector<KeyRecord> records, std::vector<TokenHash> hashes) {
  std::vector<uint32_t> dropped;
  p.store = KeyStore::build(std::move(records), std::move(hashes), &dropped);
  if (dropped.empty()) return p;

  // Rare (the input repeats an id or a hash): the table must not hold what
  // the store dropped.
  compact(p.store, p.table);
  return p;
}

}  // namespace

PreparedLoad prepare_load(ValidRecords records, std::shared_ptr<const Resolver> resolver) {
  PreparedLoad p;
  p.resolver = std::move(resolver);
  p.table.reserve(records.size());
  records.keep_if([&](ValidRecord &v) { return resolve_into(p, v); });
  std::vector<KeyRecord> kept;
  std::vector<TokenHash> hashes;
  std::move(records).release(kept, hashes);
  return finish(std::move(p), std::move(kept), std::move(hashes));
}

PreparedLoad prepare_load(std::vector<KeyRecord> records, std::shared_ptr<const Resolver> resolver) {
  PreparedLoad p;
  p.resolver = std::move(resolver);
  std::vector<TokenHash> hashes;
  hashes.reserve(records.size());
  p.table.reserve(records.size());
  size_t kept = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    Expected<ValidRecord> v = validate(std::move(records[i]));
    if (!v.ok()) {
      p.errors.push_back(std::move(v.error));
      p.unresolved.push_back(std::move(records[i]));  // validate() left it as it was
      continue;
    }
    if (!resolve_into(p, *v.value)) continue;
    hashes.push_back(v.value->hash());
    records[kept++] = std::move(*v.value).take();
  }
  records.resize(kept);
  return finish(std::move(p), std::move(records), std::move(hashes));
}

void compact(KeyStore &store, std::vector<shm::TableRecord> &table) {
  std::vector<KeyRecord> records;
  std::vector<TokenHash> hashes;
  store.release(records, hashes);
  size_t kept = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].id.empty()) continue;  // a free slot
    if (kept != i) {
      records[kept] = std::move(records[i]);
      hashes[kept] = hashes[i];
      table[kept] = std::move(table[i]);
    }
    ++kept;
  }
  records.resize(kept);
  hashes.resize(kept);
  table.resize(kept);
  store = KeyStore::build(std::move(records), std::move(hashes));
}

}  // namespace edgekey::sync
