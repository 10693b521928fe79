// prepared_load.cpp -- see prepared_load.hpp.
#include "sync/prepared_load.hpp"

namespace edgekey::sync {

PreparedLoad prepare_load(std::vector<KeyRecord> records, std::shared_ptr<const Resolver> resolver,
                          bool validated) {
  PreparedLoad p;
  p.resolver = std::move(resolver);
  std::vector<TokenHash> hashes;
  hashes.reserve(records.size());
  p.table.reserve(records.size());
  size_t kept = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    Result<shm::TableRecord> t =
        validated ? p.resolver->resolve_validated(records[i]) : p.resolver->resolve(records[i]);
    if (!t.ok()) {
      p.errors.push_back(std::move(t.error));
      p.unresolved.push_back(std::move(records[i]));
      continue;
    }
    hashes.push_back(t.value->hash);
    p.table.push_back(std::move(*t.value));
    if (kept != i) records[kept] = std::move(records[i]);
    ++kept;
  }
  records.resize(kept);
  std::vector<uint32_t> dropped;
  p.store = KeyStore::build(std::move(records), std::move(hashes), &dropped);
  if (dropped.empty()) return p;

  // Rare (the input repeats an id or a hash): the table must not hold what
  // the store dropped, so both lose those entries and the store is rebuilt.
  p.store.release(records, hashes);
  kept = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].id.empty()) continue;  // dropped
    if (kept != i) {
      records[kept] = std::move(records[i]);
      hashes[kept] = hashes[i];
      p.table[kept] = std::move(p.table[i]);
    }
    ++kept;
  }
  records.resize(kept);
  hashes.resize(kept);
  p.table.resize(kept);
  p.store = KeyStore::build(std::move(records), std::move(hashes));
  return p;
}

}  // namespace edgekey::sync
