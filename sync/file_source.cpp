#include "sync/file_source.hpp"

#include "sync/keyset_file.hpp"
#include "sync/prepared_load.hpp"

#include <cstring>
#include <malloc.h>
#include <unordered_map>

namespace edgekey::sync {

namespace {
constexpr uint64_t kDebounceMs = 20;  // an editor's or edgekeyctl's burst of events

template <class H>
void close_and_free(H *&h) {
  if (!h) return;
  uv_close(reinterpret_cast<uv_handle_t *>(h), [](uv_handle_t *p) { delete reinterpret_cast<H *>(p); });
  h = nullptr;
}

uint64_t fingerprint(std::string_view text, const ScanItem &it) {
  return std::hash<std::string_view>{}(text.substr(it.begin, it.end - it.begin));
}

struct TokenHashHash {
  size_t operator()(const TokenHash &h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);  // uniformly distributed
    return v;
  }
};
}  // namespace

FileSource::FileSource(uv_loop_t *loop, std::string path, Applier &applier, LogFn log)
    : loop_(loop), path_(std::move(path)), applier_(applier), log_(std::move(log)) {
  size_t slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

FileSource::~FileSource() { close(); }

void FileSource::close() {
  if (watch_) uv_fs_event_stop(watch_);
  if (debounce_) uv_timer_stop(debounce_);
  close_and_free(watch_);
  close_and_free(debounce_);
}

bool FileSource::start() {
  debounce_ = new uv_timer_t;
  uv_timer_init(loop_, debounce_);
  debounce_->data = this;
  watch_ = new uv_fs_event_t;
  uv_fs_event_init(loop_, watch_);
  watch_->data = this;
  if (int rc = uv_fs_event_start(watch_, on_fs_event, dir_.c_str(), 0); rc != 0)
    log_(Level::Error, "keyset directory " + dir_ + ": cannot watch (" + uv_strerror(rc) +
                           "): changes need SIGHUP");
  return reload();
}

bool FileSource::reload() {
  bool ok;
  {
    MappedFile f(path_);
    const uint64_t revision = applier_.revision() + 1;
    if (!f.error().empty()) {
      healthy_ = false;
      log_(Level::Error, "keyset " + f.error() + " (the table keeps its keys)");
      return false;
    }
    ok = loaded_ ? apply_changes(f.text(), revision) : load_all(f.text(), revision);
  }
  malloc_trim(0);  // a reload's temporary memory goes back to the system: edgekeyd stays flat
  if (!ok) {
    healthy_ = false;
    return false;
  }
  healthy_ = true;
  applier_.contact(int64_t(time(nullptr)));
  if (on_change) on_change();
  return true;
}

bool FileSource::load_all(std::string_view text, uint64_t revision) {
  KeysetParse p = parse_keyset_yaml(text, path_);
  if (!p.ok()) {
    log_(Level::Error, "keyset " + p.error + " (the table keeps its keys)");
    return false;
  }
  for (const auto &rej : p.rejected) log_(Level::Warn, "keyset " + rej.message + " (skipped)");
  PreparedLoad prep = prepare_load(std::move(p.records), applier_.resolver(), true);
  refused_.clear();
  for (const auto &r : prep.unresolved) {
    TokenHash h;
    if (parse_record_hash(r.hash, h)) refused_[h] = r;
  }
  applier_.load_prepared(std::move(prep), revision);
  seen_.clear();  // the first re-read decodes every item (and fills seen_)
  loaded_ = true;
  log_(Level::Info, "keyset " + path_ + ": loaded " + std::to_string(applier_.size()) + " keys");
  return true;
}

bool FileSource::apply_changes(std::string_view text, uint64_t revision) {
  const KeyStore &st = applier_.store();
  constexpr uint32_t npos = KeyStore::npos;
  // Per stored key: the line of the first record of this read with its hash
  // / its id (0 = none yet). Keys no record claims by hash are removed.
  std::vector<int> hash_line, id_line;
  std::unordered_map<uint32_t, std::string> hash_claimer;  // slot -> claiming id, when not the stored one
  std::unordered_map<TokenHash, std::pair<int, std::string>, TokenHashHash> new_hash;  // not stored
  std::unordered_map<std::string, int> new_id;                                          // not stored
  std::map<TokenHash, bool> refused_seen;
  std::vector<KeyRecord> upserts;
  std::vector<uint64_t> upsert_fps;   // upserts[i]'s item, 0 = none
  std::vector<std::pair<uint64_t, TokenHash>> unchanged;  // decoded items equal to their stored record
  std::vector<std::string> warnings;  // logged once the read is complete
  auto reset = [&] {
    ++read_;  // what an interrupted pass marked in seen_ counts for nothing
    upsert_fps.clear();
    unchanged.clear();
    hash_line.assign(st.slots(), 0);
    id_line.assign(st.slots(), 0);
    hash_claimer.clear();
    new_hash.clear();
    new_id.clear();
    refused_seen.clear();
    upserts.clear();
    warnings.clear();
  };
  reset();

  // A record that does not load keeps the previous version of its id, if any.
  auto keep_previous = [&](const KeysetRejection &rj) {
    bool kept = false;
    if (!rj.key_id.empty()) {
      if (const uint32_t s = st.find_id(rj.key_id); s != npos) {
        if (!hash_line[s]) hash_line[s] = rj.line;
        kept = true;
      }
      for (const auto &[h, r] : refused_)
        if (r.id == rj.key_id) refused_seen[h] = kept = true;
    }
    warnings.push_back("keyset " + rj.message + (kept ? " (its previous version stays)" : " (skipped)"));
  };

  KeysetVisitor v;
  v.restart = reset;
  v.skip = [&](const ScanItem &it) {
    const auto e = seen_.find(fingerprint(text, it));
    if (e == seen_.end()) return false;
    const uint32_t s = st.find_hash(e->second.hash);
    if (s == npos || hash_line[s] || id_line[s]) return false;  // decoded: the duplicate rules decide
    hash_line[s] = id_line[s] = it.line;
    e->second.read = read_;
    return true;
  };
  v.reject = [&](KeysetRejection &&rj) { keep_previous(rj); };
  v.record = [&](KeyRecord &&r, int line, const ScanItem *item) {
    TokenHash h{};
    parse_record_hash(r.hash, h);  // a valid record's always parses
    const uint32_t sh = st.find_hash(h), si = st.find_id(r.id);
    // The duplicate rules of parse_keyset_yaml: the first record of a hash or an id stays.
    std::optional<FieldError> dup;
    if (sh != npos ? hash_line[sh] != 0 : new_hash.count(h) != 0) {
      std::string first_id;
      int first_line;
      if (sh != npos) {
        auto c = hash_claimer.find(sh);
        first_id = c != hash_claimer.end() ? c->second : st.record(sh).id;
        first_line = hash_line[sh];
      } else {
        first_id = new_hash[h].second;
        first_line = new_hash[h].first;
      }
      dup = FieldError{"hash", "duplicate: same hash as key " + first_id + " at line " + std::to_string(first_line)};
    } else if (si != npos ? id_line[si] != 0 : new_id.count(r.id) != 0) {
      dup = FieldError{"id", "duplicate: same id as the key at line " +
                                 std::to_string(si != npos ? id_line[si] : new_id[r.id])};
    }
    if (dup) {
      KeysetRejection rj{r.id, line, format_record_error(r.id, *dup), {}};
      rj.message = path_ + ":" + std::to_string(line) + ": " + rj.reason;
      keep_previous(rj);
      return;
    }
    if (sh != npos) {
      hash_line[sh] = line;
      if (r.id != st.record(sh).id) hash_claimer[sh] = r.id;
    } else {
      new_hash[h] = {line, r.id};
    }
    if (si != npos) id_line[si] = line;
    else new_id[r.id] = line;
    const uint64_t fp = item ? fingerprint(text, *item) : 0;
    if (sh != npos && same_content(st.record(sh), r)) {  // unchanged
      if (fp) unchanged.emplace_back(fp, h);
      return;
    }
    if (auto it = refused_.find(h); it != refused_.end() && same_content(it->second, r)) {
      refused_seen[h] = true;  // refused as it is: not offered (nor logged) again
      return;
    }
    upserts.push_back(std::move(r));
    upsert_fps.push_back(fp);
  };
  if (std::string error = stream_keyset(text, path_, v); !error.empty()) {
    log_(Level::Error, "keyset " + error + " (the table keeps its keys)");
    return false;
  }
  for (const auto &w : warnings) log_(Level::Warn, w);
  for (const auto &[fp, h] : unchanged) seen_[fp] = Seen{h, read_};
  std::erase_if(seen_, [&](const auto &e) { return e.second.read != read_; });

  KeysetDiff removals;
  st.for_each([&](uint32_t s) {
    if (!hash_line[s]) removals.removals.push_back(st.hash(s));
  });
  for (auto it = refused_.begin(); it != refused_.end();) {  // gone from the file: forgotten
    if (refused_seen.count(it->first)) {
      ++it;
      continue;
    }
    removals.removals.push_back(it->first);  // the Applier may hold it aside (no room)
    it = refused_.erase(it);
  }
  if (removals.removals.empty() && upserts.empty()) {
    ++read_;
    return true;
  }
  const size_t removed = removals.removals.size();
  applier_.apply(removals, revision);
  for (size_t i = 0; i < upserts.size(); ++i) {
    KeyRecord &r = upserts[i];
    TokenHash h{};
    parse_record_hash(r.hash, h);
    if (applier_.upsert(r, revision)) {
      refused_.erase(h);
      if (upsert_fps[i]) seen_[upsert_fps[i]] = Seen{h, read_};
    } else {
      refused_[h] = std::move(r);
    }
  }
  ++read_;
  log_(Level::Info, "keyset " + path_ + ": " + std::to_string(upserts.size()) + " changed, " +
                        std::to_string(removed) + " removed");
  return true;
}

void FileSource::on_fs_event(uv_fs_event_t *h, const char *filename, int, int status) {
  auto *self = static_cast<FileSource *>(h->data);
  if (status == 0 && filename && self->base_ != filename) return;  // another file of the directory
  uv_timer_start(self->debounce_, on_timer, kDebounceMs, 0);
}

void FileSource::on_timer(uv_timer_t *t) { static_cast<FileSource *>(t->data)->reload(); }

}  // namespace edgekey::sync
