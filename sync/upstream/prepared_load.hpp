// prepared_load.hpp -- a whole snapshot made ready for the table: every
// record resolved and indexed, on any thread, so the thread that owns the
// table writer (the loop) only publishes it (Applier::load_prepared).
//
// A 1M-key snapshot resolves and indexes in a few hundred ms; done beside
// the loop, revocations keep applying meanwhile.
#pragma once

#include "shm/writer/table_record.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/resolve.hpp"
#include "sync/upstream/key_store.hpp"

#include <memory>
#include <string>
#include <vector>

namespace edgekey::sync {

struct PreparedLoad {
  std::shared_ptr<const Resolver> resolver;  // what resolved `table` (the loop re-resolves under another)
  KeyStore store;                            // the records that resolved; slot i resolved into table[i]
  std::vector<shm::TableRecord> table;       // table.size() == store.slots()
  std::vector<KeyRecord> unresolved;         // the records that did not resolve, kept for a new policy
  std::vector<std::string> errors;           // why, one line each, in record order
};

// Resolves `records` (applied in order: a later record replaces an earlier
// one with its id, or with its token hash under another id) with `resolver`.
// The records and their parsed hashes become the store's as they are (no
// check, no copy: a 1M-key load holds one vector of records).
PreparedLoad prepare_load(ValidRecords records, std::shared_ptr<const Resolver> resolver);
// The same for records that come unchecked (a disk snapshot, the re-resolve
// of a changed policy): each is validated here, in place; one that breaks a
// rule is an error like one that does not resolve.
PreparedLoad prepare_load(std::vector<KeyRecord> records, std::shared_ptr<const Resolver> resolver);

// Drops the store's free slots, and table's entries at them (table[i]
// belongs to slot i), rebuilding the store; afterwards slot i holds the
// i-th live record in slot order and table.size() == store.slots().
void compact(KeyStore &store, std::vector<shm::TableRecord> &table);

}  // namespace edgekey::sync
