// nats_key_repository.cpp -- see nats_key_repository.hpp.
#include "daemon/ctl/nats_key_repository.hpp"

#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_upstream.hpp"
#include "sync/record/record_json.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <thread>

namespace edgekey::ctl {
namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A short random pause between conflicting attempts, so that writers that
// collided do not collide again in lockstep.
void back_off(int attempt) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const int ceiling = std::min(50, 1 << std::min(attempt, 6));
  std::this_thread::sleep_for(std::chrono::milliseconds(1 + int(rng() % unsigned(ceiling))));
}

struct WatcherDeleter {
  void operator()(kvWatcher *w) const { kvWatcher_Destroy(w); }
};
struct EntryDeleter {
  void operator()(kvEntry *e) const { kvEntry_Destroy(e); }
};
using WatcherPtr = std::unique_ptr<kvWatcher, WatcherDeleter>;
using EntryPtr = std::unique_ptr<kvEntry, EntryDeleter>;

std::string value_of(kvEntry *e) {
  const void *data = kvEntry_Value(e);
  const int len = kvEntry_ValueLen(e);
  return data && len > 0 ? std::string(static_cast<const char *>(data), size_t(len)) : std::string();
}

}  // namespace

bool valid_kv_key(std::string_view id) {
  if (id.empty() || id.front() == '.' || id.back() == '.' || id.find("..") != std::string_view::npos) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '=' || c == '/' || c == '.';
  });
}

NatsKeyRepository::NatsKeyRepository(sync::NatsOptions opts, std::string config_source, int max_attempts)
    : opts_(std::move(opts)), config_source_(std::move(config_source)), max_attempts_(std::max(1, max_attempts)) {}

NatsKeyRepository::~NatsKeyRepository() {
  if (kv_) kvStore_Destroy(kv_);
  if (usage_kv_) kvStore_Destroy(usage_kv_);
}

std::string NatsKeyRepository::where() const {
  return "NATS bucket \"" + opts_.bucket + "\" in " + domain_text(opts_.origin_domain) + " (servers " +
         server_list(opts_) + ")";
}

kvStore *NatsKeyRepository::bucket() {
  if (kv_) return kv_;
  if (!client_) client_ = connect_nats(opts_);
  const natsStatus s = js_KeyValue(&kv_, client_->origin(), opts_.bucket.c_str());
  if (s == NATS_NOT_FOUND)
    throw CtlError(kExitKeysetIo, where() + " does not exist: create it with `edgekeyctl nats init-origin`, or "
                                            "check upstream.nats.bucket and upstream.nats.origin_domain in " +
                                      config_source_);
  if (s != NATS_OK) {
    kv_ = nullptr;
    throw nats_failure(s, "opening bucket \"" + opts_.bucket + "\" in " + domain_text(opts_.origin_domain), opts_,
                       opts_.origin_domain, kExitKeysetIo,
                       "check upstream.nats.bucket and upstream.nats.origin_domain in " + config_source_);
  }
  return kv_;
}

namespace {

// The latest value of every key of bucket `kv` (stream `stream`), deleted
// and purged keys left out: key -> (revision, value).
std::map<std::string, std::pair<uint64_t, std::string>> read_latest(sync::NatsClient &client, kvStore *kv,
                                                                    const std::string &stream,
                                                                    const sync::NatsOptions &o,
                                                                    const std::string &what) {
  // Reading is many messages, not one request: a loaded host or server may
  // pause longer than request_timeout between two of them. A server that is
  // gone already failed to open the bucket, which is bounded by request_timeout.
  const int64_t timeout = std::max<int64_t>(10'000, o.request_timeout.count());

  // An ordered consumer delivering the latest message of every key, then
  // whatever is written after it was created.
  kvWatchOptions wo;
  kvWatchOptions_Init(&wo);
  wo.Timeout = timeout;
  kvWatcher *raw = nullptr;
  natsStatus s = kvStore_WatchAll(&raw, kv, &wo);
  if (s != NATS_OK) throw nats_failure(s, what, o, o.origin_domain, kExitKeysetIo, "");
  WatcherPtr watcher(raw);

  // The bucket keeps one message per key, so a key rewritten while this
  // reads loses the message the consumer was about to deliver; its new one
  // comes later, in sequence order. Hence: read up to the stream's last
  // sequence, ask again, and stop only once nothing newer was written.
  // (libnats's end-of-snapshot marker relies on pending counts and was seen
  // to end early, or never, while other writers were busy.)
  auto last_sequence = [&] {
    jsStreamInfo *si = nullptr;
    jsErrCode err = jsErrCode(0);
    const natsStatus st = js_GetStreamInfo(&si, client.origin(), stream.c_str(), nullptr, &err);
    if (st != NATS_OK) throw nats_failure(st, what, o, o.origin_domain, kExitKeysetIo, "");
    const uint64_t seq = si->State.Msgs == 0 ? 0 : si->State.LastSeq;
    jsStreamInfo_Destroy(si);
    return seq;
  };
  std::map<std::string, std::pair<uint64_t, std::string>> latest;  // by key; puts only
  uint64_t seen = 0;
  for (uint64_t last = last_sequence(); seen < last; last = last_sequence()) {
    while (seen < last) {
      kvEntry *next = nullptr;
      s = kvWatcher_Next(&next, watcher.get(), timeout);
      if (s != NATS_OK) throw nats_failure(s, what, o, o.origin_domain, kExitKeysetIo, "");
      if (!next) continue;  // libnats's marker: see above
      EntryPtr e(next);
      seen = kvEntry_Revision(e.get());
      const std::string key = kvEntry_Key(e.get());
      if (kvEntry_Operation(e.get()) != kvOp_Put) {  // deleted or purged: gone
        latest.erase(key);
        continue;
      }
      latest[key] = {seen, value_of(e.get())};
    }
  }
  return latest;
}

}  // namespace

std::vector<NatsKeyRepository::Entry> NatsKeyRepository::read_all() {
  kvStore *kv = bucket();
  unreadable_.clear();
  std::map<std::string, Entry> latest;
  for (auto &[key, rv] : read_latest(*client_, kv, "KV_" + opts_.bucket, opts_,
                                     "reading bucket \"" + opts_.bucket + "\" in " + domain_text(opts_.origin_domain))) {
    Entry &entry = latest[key];
    entry.revision = rv.first;
    entry.value = std::move(rv.second);
  }

  std::vector<Entry> entries;
  for (auto &[key, entry] : latest) {
    const std::string label = "bucket \"" + opts_.bucket + "\" entry " + sync::quote_for_error(key) +
                              " (revision " + std::to_string(entry.revision) + "): ";
    sync::Expected<sync::ValidRecord> r = sync::decode_record_json(entry.value);
    if (!r) {
      unreadable_.push_back(label + r.error);
      continue;
    }
    if (r.value->record().id != key) {
      unreadable_.push_back(label + "holds the record of key " + sync::quote_for_error(r.value->record().id) +
                            "; an entry's name must be its record's id");
      continue;
    }
    entry.record = std::move(*r.value).take();
    entries.push_back(std::move(entry));
  }
  // Store order: by revision (the order of the latest writes).
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) { return a.revision < b.revision; });
  return entries;
}

kvStore *NatsKeyRepository::usage_bucket() {
  if (usage_kv_) return usage_kv_;
  if (!client_) client_ = connect_nats(opts_);
  const std::string what = "bucket \"" + opts_.usage_bucket + "\" (keys' last use) in " +
                           domain_text(opts_.origin_domain);
  const natsStatus s = js_KeyValue(&usage_kv_, client_->origin(), opts_.usage_bucket.c_str());
  if (s == NATS_NOT_FOUND)
    throw CtlError(kExitKeysetIo, what + " does not exist: create it with `edgekeyctl nats init-origin`, or check "
                                         "upstream.nats.usage_bucket and upstream.nats.origin_domain in " +
                                      config_source_);
  if (s != NATS_OK) {
    usage_kv_ = nullptr;
    throw nats_failure(s, "opening " + what, opts_, opts_.origin_domain, kExitKeysetIo,
                       "check upstream.nats.usage_bucket and upstream.nats.origin_domain in " + config_source_);
  }
  return usage_kv_;
}

std::vector<sync::UsageEntry> NatsKeyRepository::usage(std::string_view id) {
  kvStore *kv = usage_bucket();
  unreadable_usage_.clear();
  const std::string what = "reading bucket \"" + opts_.usage_bucket + "\" in " + domain_text(opts_.origin_domain);
  std::map<std::string, std::pair<uint64_t, std::string>> latest;
  if (id.empty()) {
    latest = read_latest(*client_, kv, "KV_" + opts_.usage_bucket, opts_, what);
  } else if (valid_kv_key(id)) {
    // One key's entries, "<id>.<region>.<host>": a few, read until libnats's
    // end-of-snapshot marker (a write racing it is at most the newest use missed).
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = std::max<int64_t>(10'000, opts_.request_timeout.count());
    kvWatcher *raw = nullptr;
    natsStatus s = kvStore_Watch(&raw, kv, (std::string(id) + ".*.*").c_str(), &wo);
    if (s != NATS_OK) throw nats_failure(s, what, opts_, opts_.origin_domain, kExitKeysetIo, "");
    WatcherPtr watcher(raw);
    for (;;) {
      kvEntry *next = nullptr;
      s = kvWatcher_Next(&next, watcher.get(), wo.Timeout);
      if (s != NATS_OK) throw nats_failure(s, what, opts_, opts_.origin_domain, kExitKeysetIo, "");
      if (!next) break;
      EntryPtr e(next);
      if (kvEntry_Operation(e.get()) == kvOp_Put)
        latest[kvEntry_Key(e.get())] = {kvEntry_Revision(e.get()), value_of(e.get())};
      else
        latest.erase(kvEntry_Key(e.get()));
    }
  }
  std::vector<sync::UsageEntry> out;
  for (const auto &[key, rv] : latest) {
    std::string why;
    if (auto e = sync::decode_usage_value(key, rv.second, &why))
      out.push_back(std::move(*e));
    else
      unreadable_usage_.push_back("bucket \"" + opts_.usage_bucket + "\" entry " + sync::quote_for_error(key) +
                                  " (revision " + std::to_string(rv.first) + "): " + why);
  }
  return out;
}

std::vector<sync::KeyRecord> NatsKeyRepository::list() {
  std::vector<sync::KeyRecord> records;
  for (auto &e : read_all()) records.push_back(std::move(e.record));
  return records;
}

std::optional<sync::KeyRecord> NatsKeyRepository::get(std::string_view id) {
  kvStore *kv = bucket();
  unreadable_.clear();
  if (!valid_kv_key(id)) return std::nullopt;  // no entry can have this name
  const std::string key(id);
  kvEntry *raw = nullptr;
  const natsStatus s = kvStore_Get(&raw, kv, key.c_str());
  if (s == NATS_NOT_FOUND) return std::nullopt;
  if (s != NATS_OK)
    throw nats_failure(s, "reading key " + sync::quote_for_error(id) + " from bucket \"" + opts_.bucket + "\"",
                       opts_, opts_.origin_domain, kExitKeysetIo, "");
  EntryPtr e(raw);
  sync::Expected<sync::ValidRecord> r = sync::decode_record_json(value_of(e.get()));
  const std::string label = "bucket \"" + opts_.bucket + "\" entry " + sync::quote_for_error(key) + " (revision " +
                            std::to_string(kvEntry_Revision(e.get())) + "): ";
  if (!r) {
    unreadable_.push_back(label + r.error);
    return std::nullopt;
  }
  if (r.value->record().id != key) {
    unreadable_.push_back(label + "holds the record of key " + sync::quote_for_error(r.value->record().id) +
                          "; an entry's name must be its record's id");
    return std::nullopt;
  }
  return std::move(*r.value).take();
}

void NatsKeyRepository::update(const Change &change) {
  for (int attempt = 1; attempt <= max_attempts_; ++attempt) {
    last_attempts_ = attempt;
    const std::vector<Entry> entries = read_all();
    if (!unreadable_.empty())
      throw CtlError(kExitKeysetIo, where() + " has " + std::to_string(unreadable_.size()) +
                                        " entry(ies) that do not load, which edgekeyctl will not overwrite or "
                                        "drop; fix or delete them first (" + unreadable_.front() + ")");
    std::vector<sync::KeyRecord> records;
    records.reserve(entries.size());
    for (const auto &e : entries) records.push_back(e.record);
    std::vector<sync::KeyRecord> puts = change(records);
    if (puts.empty()) return;
    merge_records(records, puts);  // refuses a hash another key has
    for (const auto &r : puts) {
      if (auto err = sync::validate_record(r)) throw CtlError(kExitUsage, sync::format_record_error(r.id, *err));
      if (!valid_kv_key(r.id))
        throw CtlError(kExitUsage, "key id " + sync::quote_for_error(r.id) +
                                       " cannot name a NATS key-value entry (allowed: letters, digits, _ - = / and "
                                       "single dots inside)");
    }
    if (write(entries, std::move(puts)) == Outcome::Done) return;
    back_off(attempt);
  }
  throw CtlError(kExitKeysetIo, "other writers changed the same keys in the " + where() + " during each of " +
                                    std::to_string(max_attempts_) + " attempts; nothing was written; retry");
}

NatsKeyRepository::Outcome NatsKeyRepository::write(const std::vector<Entry> &current, std::vector<sync::KeyRecord> puts) {
  // One write per id (the last record returned for it), new ids first: an
  // undone creation leaves nothing anyone holds a token for.
  std::vector<sync::KeyRecord> order;
  for (auto it = puts.rbegin(); it != puts.rend(); ++it)
    if (std::none_of(order.begin(), order.end(), [&](const sync::KeyRecord &r) { return r.id == it->id; }))
      order.push_back(std::move(*it));
  std::reverse(order.begin(), order.end());
  auto existing = [&](const std::string &id) -> const Entry * {
    for (const auto &e : current)
      if (e.record.id == id) return &e;
    return nullptr;
  };
  std::stable_partition(order.begin(), order.end(), [&](const sync::KeyRecord &r) { return !existing(r.id); });

  kvStore *kv = bucket();
  std::vector<Written> done;
  const int64_t stamp = now_ms();
  for (auto &r : order) {
    r.origin_written_at = stamp;
    const std::string json = sync::encode_record_json(r);
    const Entry *old = existing(r.id);
    Written w{r.id, old ? old->revision : 0, old ? old->value : std::string(), 0};
    const natsStatus s =
        old ? kvStore_Update(&w.revision, kv, r.id.c_str(), json.data(), int(json.size()), old->revision)
            : kvStore_Create(&w.revision, kv, r.id.c_str(), json.data(), int(json.size()));
    if (s == NATS_OK) {
      done.push_back(std::move(w));
      continue;
    }
    if (nats_conflict(s)) {
      undo(done, "key " + r.id + " changed while this change was being written");
      return Outcome::Conflict;
    }
    CtlError failure = nats_failure(s, std::string(old ? "updating" : "creating") + " key " + r.id +
                                           " in bucket \"" + opts_.bucket + "\"",
                                    opts_, opts_.origin_domain, kExitKeysetIo, "");
    try {
      undo(done, failure.what());
    } catch (const CtlError &e) {
      throw CtlError(failure.code, e.what());
    }
    throw failure;
  }
  return Outcome::Done;
}

void NatsKeyRepository::undo(const std::vector<Written> &done, const std::string &why) {
  kvStore *kv = bucket();
  for (auto it = done.rbegin(); it != done.rend(); ++it) {
    const natsStatus s =
        it->old_revision == 0
            ? kvStore_Delete(kv, it->id.c_str())
            : kvStore_Update(nullptr, kv, it->id.c_str(), it->old_value.data(), int(it->old_value.size()),
                             it->revision);
    if (s == NATS_OK) continue;
    throw CtlError(kExitKeysetIo,
                   why + "; undoing the earlier write of key " + it->id + " then failed (" +
                       sync::nats_error_text(s) + "), so the " + where() + " holds only part of the change: " +
                       (it->old_revision == 0 ? "key " + it->id + " was created but its token was never shown; "
                                                "revoke it with `edgekeyctl keys revoke " + it->id + "`"
                                              : "check key " + it->id + " with `edgekeyctl keys show " + it->id +
                                                    "` and repeat the command"));
  }
}

}  // namespace edgekey::ctl
