#include "daemon/ctl/key_store.hpp"

#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_key_store.hpp"
#include "sync/keyset_file.hpp"

#include <algorithm>
#include <cerrno>

namespace edgekey::ctl {

std::string FileKeyStore::where() const { return "keyset file " + path_; }

std::vector<sync::KeyRecord> FileKeyStore::load() {
  sync::KeysetParse p = sync::load_keyset_file(path_);
  unreadable_.clear();
  if (p.not_found) return {};
  if (!p.ok()) throw CtlError(kExitKeysetIo, p.error);
  for (const auto &r : p.rejected) unreadable_.push_back(r.message);
  return std::move(p.records);
}

std::vector<sync::KeyRecord> FileKeyStore::list() { return load(); }

std::optional<sync::KeyRecord> FileKeyStore::get(std::string_view id) {
  for (auto &r : load())
    if (r.id == id) return std::move(r);
  return std::nullopt;
}

void FileKeyStore::update(const Change &change) {
  try {
    sync::KeysetLock lock(path_);
    std::vector<sync::KeyRecord> records = load();
    if (!unreadable_.empty())
      throw CtlError(kExitKeysetIo,
                     path_ + " has " + std::to_string(unreadable_.size()) +
                         " record(s) that do not load, which a rewrite would drop; fix or remove them "
                         "first (" + unreadable_.front() + ")");
    const std::vector<sync::KeyRecord> puts = change(records);
    if (puts.empty()) return;
    merge_records(records, puts);
    for (const auto &r : puts)
      if (auto e = sync::validate_record(r))
        throw CtlError(kExitUsage, sync::format_record_error(r.id, *e));
    sync::save_keyset_file(path_, records);
  } catch (const sync::KeysetError &e) {
    // Nothing was written (the keyset, its lock and no temp file are as before).
    if (e.error_number == ENOSPC || e.error_number == EDQUOT)
      throw CtlError(kExitKeysetIo, std::string("no change made: ") + e.what() +
                                        "; make room on that filesystem and run the command again");
    throw CtlError(kExitKeysetIo, e.what());
  }
}

void merge_records(std::vector<sync::KeyRecord> &records, const std::vector<sync::KeyRecord> &puts) {
  for (const auto &put : puts) {
    auto same_hash = std::find_if(records.begin(), records.end(), [&](const sync::KeyRecord &r) {
      return r.hash == put.hash && r.id != put.id;
    });
    if (same_hash != records.end())
      throw CtlError(kExitUsage, "key " + put.id + " would have the same hash as key " + same_hash->id);
    auto same_id = std::find_if(records.begin(), records.end(),
                                [&](const sync::KeyRecord &r) { return r.id == put.id; });
    if (same_id != records.end())
      *same_id = put;
    else
      records.push_back(put);
  }
}

std::unique_ptr<KeyStore> open_key_store(const daemon::Config &cfg) {
  if (cfg.upstream.kind == daemon::UpstreamKind::Nats)
    return std::make_unique<NatsKeyStore>(cfg.upstream.nats, cfg.source);
  return std::make_unique<FileKeyStore>(cfg.upstream.file);
}

}  // namespace edgekey::ctl
