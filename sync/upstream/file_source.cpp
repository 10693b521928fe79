#include "sync/upstream/file_source.hpp"

#include "sync/record/keyset_dir.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"
#include "sync/record/side_task.hpp"
#include "sync/upstream/prepared_load.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <unordered_map>

namespace edgekey::sync {

namespace {
constexpr uint64_t kDebounceMs = 20;  // an editor's or edgekeyctl's burst of events
constexpr uint64_t kRetryMs = 1000;   // after a read cut short (reload)

template <class H>
void close_and_free(H *&h) {
  if (!h) return;
  uv_close(reinterpret_cast<uv_handle_t *>(h), [](uv_handle_t *p) { delete reinterpret_cast<H *>(p); });
  h = nullptr;
}

uint64_t fingerprint(std::string_view text, const ScanItem &it) {
  return std::hash<std::string_view>{}(text.substr(it.begin, it.end - it.begin));
}

}  // namespace

size_t TokenHashHash::operator()(const TokenHash &h) const noexcept {
  size_t v;
  std::memcpy(&v, h.data(), sizeof v);  // uniformly distributed
  return v;
}

FileSource::FileSource(uv_loop_t *loop, std::string path, Applier &applier, LogFn log)
    : loop_(loop), path_(std::move(path)), applier_(applier), log_(std::move(log)) {
  size_t slash = path_.rfind('/');
  dir_ = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  base_ = slash == std::string::npos ? path_ : path_.substr(slash + 1);
}

FileSource::~FileSource() {
  close();
  let_go_kept();
  if (closer_.joinable()) closer_.join();
}

void FileSource::let_go_kept() {
  if (kept_fd_ < 0) return;
  struct stat st{};
  if (::fstat(kept_fd_, &st) == 0 && st.st_nlink == 0 && st.st_size > (16 << 20)) {
    // The last link is gone: closing frees its blocks and page cache (~0.3 s for 330 MB here), off the loop.
    if (closer_.joinable()) closer_.join();
    closer_ = std::thread([fd = kept_fd_] { ::close(fd); });
  } else {
    ::close(kept_fd_);
  }
  kept_fd_ = -1;
  kept_clean_ = false;
}

void FileSource::keep(const MappedFile &f, bool clean, size_t first_item, size_t dash_column) {
  let_go_kept();
  if (f.fd() < 0) return;
  kept_fd_ = ::fcntl(f.fd(), F_DUPFD_CLOEXEC, 0);
  if (kept_fd_ < 0) return;
  kept_stamp_ = f.stamp();
  kept_clean_ = clean;
  kept_first_ = first_item;
  kept_dash_ = dash_column;
}

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
  struct stat st{};
  is_dir_ = ::stat(path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  const std::string &watched = is_dir_ ? path_ : dir_;
  if (int rc = uv_fs_event_start(watch_, on_fs_event, watched.c_str(), 0); rc != 0)
    log_(Severity::Error, "keyset directory " + watched + ": cannot watch (" + uv_strerror(rc) +
                           "): changes need SIGHUP");
  return reload();
}

bool FileSource::reload() {
  try {
    return is_dir_ ? reload_dir() : reload_file();
  } catch (const std::exception &e) {
    // What this source knows of the file (seen_, the kept file, a
    // directory's owners) may be half updated: forgotten, so that the next
    // read is a whole load.
    loaded_ = healthy_ = kept_clean_ = false;
    seen_.clear();
    if (debounce_) uv_timer_start(debounce_, on_timer, kRetryMs, 0);
    try {
      log_(Severity::Error, std::string("keyset ") + (is_dir_ ? "directory " : "") + path_ + ": not read (" +
                                e.what() + "); the table keeps its keys; reading it again in " +
                                std::to_string(kRetryMs / 1000) + " s");
    } catch (const std::exception &) {  // no memory to say so: retried all the same
    }
    return false;
  }
}

bool FileSource::reload_file() {
  bool ok;
  {
    MappedFile f(path_);
    const uint64_t revision = applier_.revision() + 1;
    if (!f.error().empty()) {
      healthy_ = false;
      log_(Severity::Error, "keyset " + f.error() + " (the table keeps its keys)");
      return false;
    }
    if (!loaded_) ok = load_all(f, revision);
    else ok = apply_splice(f, revision) || apply_changes(f, revision);
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

bool FileSource::load_all(const MappedFile &f, uint64_t revision) {
  const std::string_view text = f.text();
  KeysetParse p = parse_keyset_yaml(text, path_);
  if (!p.ok()) {
    log_(Severity::Error, "keyset " + p.error + " (the table keeps its keys)");
    return false;
  }
  for (const auto &rej : p.rejected) log_(Severity::Warn, "keyset " + rej.message + " (skipped)");
  // seen_ serves the next read only: filled on a thread of its own while
  // the records go to the table (it reads the text and its own copy of the
  // hashes; this thread touches neither seen_ nor read_ until the join).
  size_t first_item = 0, dash = 0;
  bool paired = false;
  const bool clean = p.rejected.empty();
  const std::vector<TokenHash> hashes = p.records.hashes();
  SideTask pairing([&] { paired = pair_items(text, hashes, clean, first_item, dash); });
  const size_t n = p.records.size();
  PreparedLoad prep = prepare_load(std::move(p.records), applier_.resolver());
  refused_.clear();
  for (const auto &r : prep.unresolved) {
    TokenHash h;
    if (parse_record_hash(r.hash, h)) refused_[h] = r;
  }
  applier_.load_prepared(std::move(prep), revision);
  try {
    pairing.wait();
  } catch (const std::exception &e) {  // the table is loaded; the next read decodes every item again
    paired = false;
    seen_.clear();
    log_(Severity::Warn, "keyset " + path_ + ": no index of its items for the next read (" + e.what() + ")");
  }
  loaded_ = true;
  keep(f, paired && refused_.empty() && n > 0, first_item, dash);
  log_(Severity::Info, "keyset " + path_ + ": loaded " + std::to_string(applier_.size()) + " keys");
  return true;
}

bool FileSource::pair_items(std::string_view text, const std::vector<TokenHash> &hashes, bool clean,
                            size_t &first_item, size_t &dash_column) {
  // The items' fingerprints, so that a whole re-read does not decode them
  // again: when the fast reader reads the file and nothing was rejected,
  // its items are the records, in order.
  seen_.clear();
  KeysetShape shape;
  size_t n = 0;
  bool paired = clean;
  if (paired) {
    seen_.reserve(hashes.size());
    paired = scan_keyset(text, shape, [&](const ScanItem &it) {
      if (n == hashes.size()) return paired = false;
      if (n == 0) first_item = it.begin;
      seen_[fingerprint(text, it)] = Seen{hashes[n++], read_};
      return true;
    }) && paired && n == hashes.size() && shape.keys == KeysetShape::Keys::Block;
  }
  if (!paired) seen_.clear();
  dash_column = shape.dash_column;
  return paired;
}

bool FileSource::apply_changes(const MappedFile &f, uint64_t revision) {
  const std::string_view text = f.text();
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
  // For the next read: whether every item came from the fast reader, and where the first is.
  bool fast = true;
  size_t first_item = SIZE_MAX;
  auto reset = [&] {
    fast = false;  // the full parser reads it: no items
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
    claims_.clear();
  };
  reset();
  fast = true;

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
    first_item = std::min(first_item, it.begin);
    const auto e = seen_.find(fingerprint(text, it));
    if (e == seen_.end()) return false;
    const uint32_t s = st.find_hash(e->second.hash);
    if (s == npos || hash_line[s] || id_line[s] || !mine(e->second.hash)) return false;  // decoded: the rules decide
    hash_line[s] = id_line[s] = it.line;
    e->second.read = read_;
    return true;
  };
  v.reject = [&](KeysetRejection &&rj) { keep_previous(rj); };
  v.record = [&](KeyRecord &&r, int line, const ScanItem *item) {
    if (item) first_item = std::min(first_item, item->begin);
    else fast = false;
    TokenHash h{};
    parse_record_hash(r.hash, h);  // a valid record's always parses
    const uint32_t sh = st.find_hash(h), si = st.find_id(r.id);
    // A key another part of the directory holds stays its; a record with its hash waits as a claim.
    const bool foreign_hash = sh != npos && !mine(h), foreign_id = si != npos && si != sh && !mine(st.hash(si));
    if (foreign_hash || foreign_id) {
      const FieldError e = foreign_hash ? FieldError{"hash", "duplicate: same hash as key " + st.record(sh).id + " of " +
                                                                 holder(h)}
                                        : FieldError{"id", "duplicate: same id as a key of " + holder(st.hash(si))};
      warnings.push_back("keyset " + path_ + ":" + std::to_string(line) + ": " + format_record_error(r.id, e) +
                         (foreign_hash ? " (taken over if that part drops it)" : " (skipped)"));
      if (foreign_hash && !foreign_id) claims_[h] = std::move(r);
      return;
    }
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
    log_(Severity::Error, "keyset " + error + " (the table keeps its keys)");
    return false;
  }
  for (const auto &w : warnings) log_(Severity::Warn, w);
  for (const auto &[fp, h] : unchanged) seen_[fp] = Seen{h, read_};
  std::erase_if(seen_, [&](const auto &e) { return e.second.read != read_; });

  KeysetDiff removals;
  st.for_each([&](uint32_t s) {
    if (!hash_line[s] && mine(st.hash(s))) removals.removals.push_back(st.hash(s));
  });
  for (auto it = refused_.begin(); it != refused_.end();) {  // gone from the file: forgotten
    if (refused_seen.count(it->first)) {
      ++it;
      continue;
    }
    removals.removals.push_back(it->first);  // the Applier may hold it aside (no room)
    it = refused_.erase(it);
  }
  // The splice's conditions for the next read (the skip above sees every item when nothing was rejected).
  size_t dash = 0;
  if (first_item != SIZE_MAX)
    while (first_item + dash < text.size() && text[first_item + dash] == ' ') ++dash;
  const bool clean = fast && warnings.empty() && first_item != SIZE_MAX;
  if (removals.removals.empty() && upserts.empty()) {
    ++read_;
    keep(f, clean && refused_.empty(), first_item, dash);
    return true;
  }
  const size_t removed = removals.removals.size();
  drop(removals.removals, revision);
  for (size_t i = 0; i < upserts.size(); ++i) {
    KeyRecord &r = upserts[i];
    TokenHash h{};
    parse_record_hash(r.hash, h);
    own(h);
    if (applier_.upsert(r, revision)) {
      refused_.erase(h);
      if (upsert_fps[i]) seen_[upsert_fps[i]] = Seen{h, read_};
    } else {
      refused_[h] = std::move(r);
    }
  }
  ++read_;
  keep(f, clean && refused_.empty(), first_item, dash);
  log_(Severity::Info, "keyset " + path_ + ": " + std::to_string(upserts.size()) + " changed, " +
                        std::to_string(removed) + " removed");
  return true;
}

namespace {

constexpr size_t kBlock = 4096;

size_t common_prefix(const char *a, const char *b, size_t n) {
  size_t i = 0;
  while (i + kBlock <= n && std::memcmp(a + i, b + i, kBlock) == 0) i += kBlock;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Equal bytes at the ends of a (na bytes) and b (nb), at most `limit`.
size_t common_suffix(const char *a, size_t na, const char *b, size_t nb, size_t limit) {
  size_t i = 0;
  while (i + kBlock <= limit && std::memcmp(a + na - i - kBlock, b + nb - i - kBlock, kBlock) == 0) i += kBlock;
  while (i < limit && a[na - 1 - i] == b[nb - 1 - i]) ++i;
  return i;
}

// The line at `at` starts an item: `dash` spaces, "- ".
bool item_line(std::string_view t, size_t at, size_t dash) {
  if (at + dash + 2 > t.size()) return false;
  for (size_t i = 0; i < dash; ++i)
    if (t[at + i] != ' ') return false;
  return t[at + dash] == '-' && t[at + dash + 1] == ' ';
}

long ms_since(std::chrono::steady_clock::time_point t0) {
  return long(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
}

// A read-only mapping of a whole open file, for as long as it lives.
struct Mapping {
  const char *p = nullptr;
  size_t n = 0;
  Mapping(int fd, size_t size) : n(size) {
    void *m = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (m == MAP_FAILED) return;
    ::madvise(m, size, MADV_SEQUENTIAL);
    p = static_cast<const char *>(m);
  }
  ~Mapping() {
    if (p) ::munmap(const_cast<char *>(p), n);
  }
  Mapping(const Mapping &) = delete;
  Mapping &operator=(const Mapping &) = delete;
};

// The valid records of the items of [from, to) of `text`, and their
// fingerprints; false when an item is not one.
bool read_region(std::string_view text, size_t from, size_t to, size_t dash, std::vector<KeyRecord> &out,
                 std::vector<uint64_t> &fps) {
  std::vector<RawField> fields;
  bool valid = true;
  const bool read = scan_items(text, from, to, dash, 1, [&](const ScanItem &it) {
    KeyRecord r;
    if (!read_valid_item(text, it, fields, r)) return valid = false;
    out.push_back(std::move(r));
    fps.push_back(fingerprint(text, it));
    return true;
  });
  return read && valid;
}

}  // namespace

bool FileSource::apply_splice(const MappedFile &f, uint64_t revision) {
  const auto t0 = std::chrono::steady_clock::now();
  // The kept file: clean, another inode than the new file, and not written since it was read.
  struct stat kst{};
  if (!kept_clean_ || kept_fd_ < 0 || f.fd() < 0 || (f.stamp().dev == kept_stamp_.dev && f.stamp().ino == kept_stamp_.ino) ||
      ::fstat(kept_fd_, &kst) != 0)
    return false;
  const FileStamp ks = FileStamp::of(kst);
  if (ks.size != kept_stamp_.size || ks.mtime_ns != kept_stamp_.mtime_ns) return false;
  const std::string_view now = f.text();
  if (now.empty()) return false;
  std::vector<KeyRecord> before, after;
  std::vector<uint64_t> before_fps, after_fps;
  bool noted = false;
  {
    // Unmapped before the kept file is let go (the mapping would hold it).
    Mapping kept(kept_fd_, size_t(ks.size));
    if (!kept.p) return false;
    const std::string_view old(kept.p, kept.n);
    // What differs: [p, old.size() - s) of the old text, [p, now.size() - s)
    // of the new, as edgekeyctl noted it for exactly these two versions, or
    // else found by comparing them (a person's edit, a whole rewrite).
    const std::optional<KeysetSpliceNote> note = load_keyset_note(keyset_note_path(path_));
    noted = note && note->before == kept_stamp_ && note->after == f.stamp() && keyset_note_fits(*note, old, now);
    const size_t p = noted ? size_t(note->prefix)
                           : common_prefix(old.data(), now.data(), std::min(old.size(), now.size()));
    const size_t s = noted ? size_t(note->suffix)
                     : p == old.size() && p == now.size()
                         ? 0
                         : common_suffix(old.data(), old.size(), now.data(), now.size(),
                                         std::min(old.size(), now.size()) - p);
    const size_t dash = kept_dash_;
    if (p == old.size() && p == now.size()) {  // the same bytes
    } else if (p < kept_first_ + dash + 2) {
      return false;  // the head, or the first item's '-' line, changed
    } else {
      // Widened to whole items: from an item line whose "- " both texts share...
      size_t a = p;
      for (;;) {
        while (a > 0 && now[a - 1] != '\n') --a;  // the start of the line holding a
        if (a <= kept_first_) {
          a = kept_first_;
          break;
        }
        if (a + dash + 2 <= p && item_line(now, a, dash)) break;
        --a;
      }
      // ... to the next item line after the change whose line break both share, or the end.
      size_t e = now.find('\n', now.size() - s);
      e = e == std::string_view::npos ? now.size() : e + 1;
      while (e < now.size() && !item_line(now, e, dash)) {
        const size_t nl = now.find('\n', e);
        e = nl == std::string_view::npos ? now.size() : nl + 1;
      }
      const size_t e_old = e + old.size() - now.size();
      if (e - a > std::max<size_t>(1 << 20, now.size() / 8)) return false;  // the whole re-read skips known items
      if (!read_region(old, a, e_old, dash, before, before_fps) || !read_region(now, a, e, dash, after, after_fps))
        return false;  // a rejection, or a form the fast reader leaves: the whole re-read reports it
    }
  }

  // The duplicate rules: the new items may repeat no id or hash among
  // themselves, nor of a key outside the changed items.
  const KeyStore &st = applier_.store();
  constexpr uint32_t npos = KeyStore::npos;
  std::vector<TokenHash> old_hashes, new_hashes;
  std::vector<uint32_t> old_slots;
  for (const KeyRecord &r : before) {
    TokenHash h{};
    parse_record_hash(r.hash, h);
    const uint32_t slot = st.find_hash(h);
    if (slot == npos || st.record(slot).id != r.id || !mine(h)) return false;  // not as applied: read it all
    old_hashes.push_back(h);
    old_slots.push_back(slot);
  }
  auto in_old = [&](uint32_t slot) { return std::find(old_slots.begin(), old_slots.end(), slot) != old_slots.end(); };
  for (size_t i = 0; i < after.size(); ++i) {
    TokenHash h{};
    parse_record_hash(after[i].hash, h);
    for (size_t j = 0; j < i; ++j)
      if (new_hashes[j] == h || after[j].id == after[i].id) return false;
    const uint32_t sh = st.find_hash(h), si = st.find_id(after[i].id);
    if ((sh != npos && !in_old(sh)) || (si != npos && !in_old(si))) return false;
    new_hashes.push_back(h);
  }

  KeysetDiff removals;
  for (const TokenHash &h : old_hashes)
    if (std::find(new_hashes.begin(), new_hashes.end(), h) == new_hashes.end()) removals.removals.push_back(h);
  std::vector<size_t> changed;
  for (size_t i = 0; i < after.size(); ++i) {
    const uint32_t sh = st.find_hash(new_hashes[i]);
    if (sh == npos || !same_content(st.record(sh), after[i])) changed.push_back(i);
  }
  for (uint64_t fp : before_fps) seen_.erase(fp);
  if (!removals.removals.empty()) drop(removals.removals, revision);
  bool clean = true;
  for (size_t i = 0; i < after.size(); ++i) {
    const bool is_changed = std::find(changed.begin(), changed.end(), i) != changed.end();
    if (is_changed) own(new_hashes[i]);
    if (is_changed && !applier_.upsert(after[i], revision)) {
      refused_[new_hashes[i]] = std::move(after[i]);
      clean = false;
      continue;
    }
    seen_[after_fps[i]] = Seen{new_hashes[i], read_};
  }
  keep(f, clean, kept_first_, kept_dash_);
  if (!changed.empty() || !removals.removals.empty())
    log_(Severity::Info, "keyset " + path_ + ": " + std::to_string(changed.size()) + " changed, " +
                          std::to_string(removals.removals.size()) + " removed (" + std::to_string(after.size()) +
                          " item(s) read again, in " + std::to_string(ms_since(t0)) + " ms" +
                          (noted ? ", where edgekeyctl noted the change)" : ")"));
  return true;
}

void FileSource::on_fs_event(uv_fs_event_t *h, const char *filename, int, int status) {
  auto *self = static_cast<FileSource *>(h->data);
  if (status == 0 && filename && (self->is_dir_ ? !is_keyset_part_name(filename) : self->base_ != filename))
    return;  // another file of the directory
  uv_timer_start(self->debounce_, on_timer, kDebounceMs, 0);
}

void FileSource::on_timer(uv_timer_t *t) { static_cast<FileSource *>(t->data)->reload(); }

}  // namespace edgekey::sync
