// nats_key_repository.hpp -- KeyRepository on the origin's NATS JetStream key-value
// bucket (`upstream: nats`, NATS.md): one entry per key, the KV key is the
// record id, the value the record as JSON (sync::encode_record_json). Reached
// through sync::NatsClient::origin(), i.e. the bucket upstream.nats.bucket in
// upstream.nats.origin_domain, from whichever of upstream.nats.servers
// answers (a region's leaf server forwards to the origin).
//
// update() is optimistic: it reads every entry with its revision, calls the
// change, and writes each returned record with a compare-and-set
// (kvStore_Create for a new id, kvStore_Update with the revision read for an
// existing one). When another writer got there first (wrong last sequence),
// the writes this attempt already made are undone and the whole
// read-change-write runs again, up to a bound. KV has no multi-key
// transaction, so "all or nothing" is as far as undoing allows: new ids are
// written before changed ones, and an undo that itself conflicts is reported
// (kExitKeysetIo) naming the keys involved. A revocation is a put of the
// record with status revoked, never a delete. Every written record carries
// origin_written_at = the write's wall-clock time in unix ms.
//
// Errors: servers or the origin's JetStream not answering -> kExitUnavailable
// (naming the servers and the domain); a missing bucket, unreadable entries
// on a write, failed writes, too many conflicts -> kExitKeysetIo; a missing
// bucket is an error on reads too (unlike a missing keyset file), since
// `edgekeyctl nats init-origin` creates it and a misspelt bucket or domain
// must not look like an empty key set.
#pragma once

#include "daemon/ctl/key_repository.hpp"
#include "sync/upstream/nats/nats_client.hpp"
#include "sync/upstream/nats/usage_bucket.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgekey::ctl {

class NatsKeyRepository final : public KeyRepository {
 public:
  // `config_source` names the config file in messages. Connects on first use.
  NatsKeyRepository(sync::NatsOptions opts, std::string config_source, int max_attempts = 16);
  ~NatsKeyRepository() override;
  NatsKeyRepository(const NatsKeyRepository &) = delete;
  NatsKeyRepository &operator=(const NatsKeyRepository &) = delete;

  // `NATS bucket "keys" in domain "eu" (servers nats://…)`.
  std::string where() const override;
  std::vector<sync::KeyRecord> list() override;
  std::optional<sync::KeyRecord> get(std::string_view id) override;
  const std::vector<std::string> &unreadable() const override { return unreadable_; }
  void update(const Change &change) override;

  // How many read-change-write rounds the last update() ran (1 = no conflict).
  int last_attempts() const { return last_attempts_; }

  // Keys' last use as the regions' edgekeyds published it: the entries of
  // bucket upstream.nats.usage_bucket in the origin's domain, every one, or
  // only key `id`'s. Entries that do not decode go to unreadable_usage().
  // Throws CtlError: kExitKeysetIo when the bucket does not exist (create it
  // with `edgekeyctl nats init-origin`), kExitUnavailable when nothing answers.
  std::vector<sync::UsageEntry> usage(std::string_view id = {});
  const std::vector<std::string> &unreadable_usage() const { return unreadable_usage_; }

 private:
  struct Entry {
    sync::KeyRecord record;
    uint64_t revision = 0;
    std::string value;  // as stored, to put back when undoing
  };
  // A write made by the current attempt, kept to undo it.
  struct Written {
    std::string id;
    uint64_t old_revision = 0;  // 0 = the id was new
    std::string old_value;      // the value it replaced (old_revision != 0)
    uint64_t revision = 0;      // the revision this write got
  };
  enum class Outcome { Done, Conflict };

  kvStore *bucket();
  kvStore *usage_bucket();
  std::vector<Entry> read_all();
  Outcome write(const std::vector<Entry> &current, std::vector<sync::KeyRecord> puts);
  void undo(const std::vector<Written> &done, const std::string &why);

  sync::NatsOptions opts_;
  std::string config_source_;
  int max_attempts_;
  int last_attempts_ = 0;
  std::unique_ptr<sync::NatsClient> client_;
  kvStore *kv_ = nullptr;
  kvStore *usage_kv_ = nullptr;
  std::vector<std::string> unreadable_;
  std::vector<std::string> unreadable_usage_;
};

// True when `id` can be a NATS KV key: [A-Za-z0-9_=/.-]+, dots only between
// other characters and never two in a row.
bool valid_kv_key(std::string_view id);

}  // namespace edgekey::ctl
