// applier.hpp -- applies a source's ordered stream of key records to the
// table writer, and keeps the records themselves (the table holds only what
// validation needs) for GET /v1/keys/{id}, the on-disk snapshot and resyncs.
//
// The stream (docs/design.md "Sync"): snapshot_begin, records, snapshot_end
// (published as one new table generation: what it lacks is gone), then live
// upserts and removals, each with the source's revision.
//
// Invariants: a record that does not resolve is reported through on_reject
// and changes nothing (an earlier version of the same key stays); the table
// holds exactly the records of the store (one per id and per token hash:
// a record naming another key's hash replaces that key); the revision only
// moves forward and is stored in the table's header.
// Room: a record the table has no room for (its filesystem cannot take the
// larger generation a new key needs) is kept aside, "unplaced", changing
// nothing in the table, until retry_unplaced() stores it or a later change
// of the same key replaces or removes it. A snapshot that cannot get a new
// generation is applied key by key to the one serving, the same way.
// Single-threaded: call from the daemon's loop thread (resolver() excepted).
#pragma once

#include "shm/writer/table_writer.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/keyset_diff.hpp"
#include "sync/record/resolve.hpp"
#include "sync/upstream/key_store.hpp"
#include "sync/upstream/prepared_load.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace edgekey::sync {

class Applier {
 public:
  using RejectFn = std::function<void(const std::string &)>;
  Applier(shm::TableWriter &writer, const Policy &policy, RejectFn on_reject);

  // A whole snapshot: the table becomes exactly `records` (those that resolve).
  void load(std::vector<KeyRecord> records, uint64_t revision);
  // The same, resolved and indexed beforehand (prepare_load, off this
  // thread, with resolver()): only the table generation is built here. One
  // prepared under a policy since replaced is resolved again.
  void load_prepared(PreparedLoad p, uint64_t revision);
  // One live change. Returns false when the record was rejected.
  bool upsert(const ValidRecord &r, uint64_t revision);
  // The same for a record not validated yet (one that breaks a rule is rejected).
  bool upsert(const KeyRecord &r, uint64_t revision);
  // Removes the key with this id (NATS: a KV delete names the key). False if absent.
  bool remove_id(const std::string &id, uint64_t revision);
  // Applies a file diff (removals by hash, then upserts).
  void apply(const KeysetDiff &d, uint64_t revision);
  // The upstream was reached (heartbeat or change): staleness restarts.
  void contact(int64_t unix_s);

  // Upstream keys the table has no room for (0 = the table holds them all).
  size_t unplaced() const { return unplaced_.size(); }
  // Why the last of them did not fit (the writer's room_problem()).
  const std::string &room_problem() const { return room_problem_; }
  // Stores the unplaced keys, when the filesystem now has room for the
  // table to grow or keys were removed since the last try. Returns how many
  // were stored.
  size_t retry_unplaced();

  // A new policy (SIGHUP): every record is resolved again and reloaded.
  // When it throws (no memory), nothing changed: the old policy serves.
  void set_policy(const Policy &policy);
  // The policy in force, compiled; callable from any thread.
  std::shared_ptr<const Resolver> resolver() const;

  const KeyRecord *find_id(const std::string &id) const;
  std::vector<KeyRecord> records() const;  // sorted by id
  const KeyStore &store() const { return store_; }  // what the table holds (the usage collector's tags)
  size_t size() const { return store_.size(); }
  uint64_t revision() const { return revision_; }
  uint64_t rejected() const { return rejected_; }

 private:
  std::optional<shm::TableRecord> resolve(const ValidRecord &r);
  // A snapshot the writer could not build a generation for, as changes.
  void load_into_current(PreparedLoad p, uint64_t revision);
  void forget_unplaced(const TokenHash &h);
  void set_revision(uint64_t revision);
  void set_resolver(std::shared_ptr<const Resolver> r);
  void reject(const std::string &why);

  shm::TableWriter &writer_;
  mutable std::mutex resolver_mu_;  // guards the pointer resolver_ (read by other threads)
  std::shared_ptr<const Resolver> resolver_;
  RejectFn on_reject_;
  KeyStore store_;  // what the table holds: each key by id and by token hash
  std::map<std::string, ValidRecord> unplaced_;  // by id: what it has no room for
  std::string room_problem_;
  bool removed_since_retry_ = false;  // a removal may have made room without growth
  uint64_t revision_ = 0, rejected_ = 0;
};

}  // namespace edgekey::sync
