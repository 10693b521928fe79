// prepared_load.cpp -- see prepared_load.hpp.
#include "sync/upstream/prepared_load.hpp"

namespace edgekey::sync {

PreparedLoad prepare_load(std::vector<KeyRecord> records, std::shared_ptr<const Resolver> resolver) {
  PreparedLoad p;
  p.resolver = std::move(resolver);
  std::vector<TokenHash> hashes;
  hashes.reserve(records.size());
  p.table.reserve(records.size());
  size_t kept = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    Expected<ValidRecord> v = validate(std::move(records[i]));
    Expected<shm::TableRecord> t = v.ok() ? p.resolver->resolve(*v.value) : Expected<shm::TableRecord>::failure(v.error);
    if (!t.ok()) {
      p.errors.push_back(std::move(t.error));
      p.unresolved.push_back(v.ok() ? std::move(*v.value).take() : std::move(records[i]));
      continue;
    }
    hashes.push_back(t.value->hash);
    p.table.push_back(std::move(*t.value));
    records[kept++] = std::move(*v.value).take();
  }
  records.resize(kept);
  std::vector<uint32_t> dropped;
  p.store = KeyStore::build(std::move(records), std::move(hashes), &dropped);
  if (dropped.empty()) return p;

  // Rare (the input repeats an id or a hash): the table must not hold what
  // the store dropped.
  compact(p.store, p.table);
  return p;
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
