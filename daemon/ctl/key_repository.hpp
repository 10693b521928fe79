// key_repository.hpp -- where edgekeyctl reads and writes key records.
//
// KeyRepository is the small surface the key commands need; FileKeyRepository is the
// keyset file (`upstream: file`), NatsKeyRepository (nats_key_repository.hpp) the
// origin's JetStream key-value bucket (`upstream: nats`): list/get read the
// bucket, update() reads, calls the change and writes each returned record
// with a compare-and-set on its revision, retrying on conflict.
#pragma once

#include "daemon/config/config.hpp"
#include "sync/record/key_record.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::ctl {

class KeyRepository {
 public:
  virtual ~KeyRepository() = default;

  // Names the store for messages, e.g. "keyset file /etc/edgekey/keys.yaml".
  virtual std::string where() const = 0;

  // Every readable record, in store order. A keyset file that does not exist
  // yet holds no records. Throws CtlError(kExitKeysetIo); a store on a server
  // that does not answer throws CtlError(kExitUnavailable).
  virtual std::vector<sync::KeyRecord> list() = 0;

  // The record with this id; nullopt if none. Throws like list().
  virtual std::optional<sync::KeyRecord> get(std::string_view id) = 0;

  // Entries the last list()/get()/update() found but could not read (one
  // ready-to-print line each); they are never rewritten or dropped silently.
  virtual const std::vector<std::string> &unreadable() const = 0;

  // Receives the current records and returns the records to write: a record
  // whose id exists replaces it, any other is added. Returning nothing writes
  // nothing.
  using Change = std::function<std::vector<sync::KeyRecord>(const std::vector<sync::KeyRecord> &current)>;

  // Read-modify-write, all or nothing, serialised against every other
  // writer. `change` may run more than once (optimistic stores retry on a
  // conflict), so its only effect must be its return value; an exception
  // from it propagates and nothing is written. Refuses (kExitKeysetIo) to
  // write while the store holds unreadable entries, which a rewrite would
  // lose. Throws CtlError(kExitKeysetIo) on I/O or lock failures and
  // CtlError(kExitUsage) if a returned record is invalid or repeats the hash
  // of another key.
  virtual void update(const Change &change) = 0;

  // What a change that only looks records up by id sees of them.
  class Lookup {
   public:
    virtual ~Lookup() = default;
    // The record with this id; nullopt if none.
    virtual std::optional<sync::KeyRecord> find(std::string_view id) const = 0;
  };
  using LookupChange = std::function<std::vector<sync::KeyRecord>(const Lookup &current)>;

  // update() for a change that needs only lookups by id, with the same
  // guarantees; a store can then avoid holding every record (the keyset
  // file splices the changed records into a copy of its other bytes). The
  // default runs update().
  virtual void update_by_id(const LookupChange &change);
};

// A new_key_id() that no record of `current` has.
std::string unused_key_id(const KeyRepository::Lookup &current);

// The keyset file at `path`: reads with sync::load_keyset_file, writes with
// sync::save_keyset_file or, for update_by_id(), by splicing (both atomic:
// sync::replace_file_atomically), under sync::KeysetLock.
//
// A keyset directory at `path` (sync/record/keyset_dir.hpp): reads every
// part; a change writes only the parts holding the ids it puts, and a new
// id into the part of another id of the same change (rotate: the new key
// and the old key's new expiry are one write), else into the part
// keyset_part_for_new_key picks; one lock for the directory. Each part is
// written atomically; a change putting ids of several parts (none of
// edgekeyctl's commands does) writes them one after another. A new id or
// hash is checked against every part (their `.index` files, else a scan).
class FileKeyRepository final : public KeyRepository {
 public:
  explicit FileKeyRepository(std::string path) : path_(std::move(path)) {}
  std::string where() const override;
  std::vector<sync::KeyRecord> list() override;
  std::optional<sync::KeyRecord> get(std::string_view id) override;
  const std::vector<std::string> &unreadable() const override { return unreadable_; }
  void update(const Change &change) override;
  // Reads the file record by record, keeping per record its id, place and
  // 64 bits of its hash (~60 bytes a key), and writes the old bytes around
  // the changed records: no parse and re-emit of the whole keyset per edit.
  // A file in a form only the full YAML parser reads is rewritten whole.
  void update_by_id(const LookupChange &change) override;

 private:
  std::vector<sync::KeyRecord> load();
  void update_locked(const Change &change);  // update() with the lock held
  bool is_dir() const;
  std::vector<sync::KeyRecord> load_dir();                // every part's records, in name order
  void update_dir(const Change *change, const LookupChange *by_id);  // one of them, lock held
  std::string path_;
  std::vector<std::string> unreadable_;
};

// The store `cfg` configures: the keyset file, or the NATS bucket (which is
// connected to on first use).
std::unique_ptr<KeyRepository> open_key_store(const daemon::Config &cfg);

// Applies `puts` to `records` by id (replace, else append). Throws
// CtlError(kExitUsage) when a put repeats the hash of a different key.
void merge_records(std::vector<sync::KeyRecord> &records, const std::vector<sync::KeyRecord> &puts);

}  // namespace edgekey::ctl
