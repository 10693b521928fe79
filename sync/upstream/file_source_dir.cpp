// file_source_dir.cpp -- FileSource for a keyset directory: its parts, which
// part holds each key, and removals applied after every changed part was
// read (see file_source.hpp).
#include "sync/record/keyset_dir.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"
#include "sync/record/side_task.hpp"
#include "sync/upstream/file_source.hpp"
#include "sync/upstream/prepared_load.hpp"

#include <algorithm>
#include <atomic>
#include <malloc.h>
#include <sys/stat.h>

namespace edgekey::sync {

namespace {

// The file at `path` as it is now; a zero stamp when it cannot be read.
FileStamp stamp_of(const std::string &path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? FileStamp::of(st) : FileStamp{};
}

}  // namespace

bool FileSource::mine(const TokenHash &h) const {
  if (!part_of_) return true;
  const auto it = part_of_->owner_.find(h);
  return it != part_of_->owner_.end() && it->second == this;
}

std::string FileSource::holder(const TokenHash &h) const {
  const FileSource *dir = part_of_ ? part_of_ : this;
  const auto it = dir->owner_.find(h);
  return it == dir->owner_.end() ? std::string("another part") : it->second->path_;
}

void FileSource::own(const TokenHash &h) {
  if (part_of_) part_of_->owner_[h] = this;
}

void FileSource::drop(const std::vector<TokenHash> &hashes, uint64_t revision) {
  if (!part_of_) {
    KeysetDiff d;
    d.removals = hashes;
    applier_.apply(d, revision);
    return;
  }
  for (const TokenHash &h : hashes) part_of_->dropped_.emplace_back(h, this);
}

void FileSource::finish_dir(uint64_t revision) {
  const KeyStore &st = applier_.store();
  KeysetDiff removals;
  for (const auto &[h, from] : dropped_) {
    const auto it = owner_.find(h);
    if (it == owner_.end() || it->second != from) continue;  // taken over already
    // The first part in name order that claims the key takes it over,
    // unless its record's id is another key's.
    FileSource *to = nullptr;
    for (auto &p : parts_)
      if (p.get() != from && p->claims_.count(h)) {
        to = p.get();
        break;
      }
    if (to) {
      KeyRecord r = std::move(to->claims_[h]);
      to->claims_.erase(h);
      const uint32_t si = st.find_id(r.id);
      if (si == KeyStore::npos || st.hash(si) == h) {
        it->second = to;
        log_(Severity::Info, "keyset " + to->path_ + ": key " + r.id + " taken over from " + from->path_);
        to->kept_clean_ = false;  // its item was rejected when read: the next read reads it all
        if (!applier_.upsert(r, revision)) to->refused_[h] = std::move(r);
        continue;
      }
    }
    owner_.erase(it);
    removals.removals.push_back(h);
  }
  dropped_.clear();
  applier_.apply(removals, revision);
}

bool FileSource::read_part(uint64_t revision) {
  log_(Severity::Debug, "keyset " + path_ + ": changed, read again");
  MappedFile f(path_);
  tried_ = f.error().empty() ? f.stamp() : FileStamp{};
  if (!f.error().empty()) {
    log_(Severity::Error, "keyset " + f.error() + " (its keys stay)");
    return false;
  }
  return apply_splice(f, revision) || apply_changes(f, revision);
}

bool FileSource::load_dir(uint64_t revision) {
  std::vector<std::string> names;
  std::string error;
  if (!list_keyset_parts(path_, names, error)) {
    log_(Severity::Error, error + " (the table keeps its keys)");
    return false;
  }
  owner_.clear();
  parts_.clear();
  dropped_.clear();
  const size_t n = names.size();
  // Every part read and parsed, two at a time.
  struct Read {
    std::unique_ptr<MappedFile> file;
    KeysetParse parse;
    bool clean = false;
    size_t first_item = 0, dash = 0;
  };
  std::vector<Read> reads(n);
  for (const std::string &name : names) {
    parts_.push_back(std::make_unique<FileSource>(loop_, path_ + "/" + name, applier_, log_));
    parts_.back()->part_of_ = this;
    parts_.back()->loaded_ = true;
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < n;) {
      FileSource &pt = *parts_[i];
      Read &r = reads[i];
      r.file = std::make_unique<MappedFile>(pt.path_);
      if (!r.file->error().empty()) continue;
      r.parse = parse_keyset_yaml(r.file->text(), pt.path_);
      if (r.parse.ok())
        r.clean = pt.pair_items(r.file->text(), r.parse.records.hashes(), r.parse.rejected.empty(), r.first_item,
                                r.dash) &&
                  !r.parse.records.empty();
    }
  };
  {
    SideTask other(work);
    work();
    other.wait();
  }
  // Ids repeated across parts (the first in name order stays): every id's
  // 64-bit key sorted with its place, then equal keys compared in full.
  struct IdAt {
    uint64_t key;
    uint32_t part, index;
  };
  std::vector<IdAt> ids;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t k = 0; k < reads[i].parse.records.size(); ++k)
      ids.push_back({keyset_id_key(reads[i].parse.records[k].id), i, k});
  std::sort(ids.begin(), ids.end(), [](const IdAt &a, const IdAt &b) {
    return a.key != b.key ? a.key < b.key : a.part != b.part ? a.part < b.part : a.index < b.index;
  });
  std::vector<std::vector<uint32_t>> id_holder(n);  // per record: 1 + the part holding its id first, 0 = none
  for (size_t a = 0; a < ids.size();) {
    size_t b = a + 1;
    while (b < ids.size() && ids[b].key == ids[a].key) ++b;
    for (size_t x = a + 1; x < b; ++x)
      for (size_t y = a; y < x; ++y) {
        const auto &rx = reads[ids[x].part].parse.records[ids[x].index];
        const auto &ry = reads[ids[y].part].parse.records[ids[y].index];
        if (ids[x].part == ids[y].part || rx.id != ry.id) continue;  // within a part: parse_keyset_yaml's
        auto &h = id_holder[ids[x].part];
        if (h.empty()) h.assign(reads[ids[x].part].parse.records.size(), 0);
        h[ids[x].index] = ids[y].part + 1;
        break;
      }
    a = b;
  }
  ids = {};

  size_t total = 0;
  for (const Read &r : reads) total += r.parse.records.size();
  ValidRecords all;
  all.reserve(total + total / 16 + 1024);  // the store's: room for new keys before it must move them all
  owner_.reserve(total);
  for (uint32_t i = 0; i < n; ++i) {
    FileSource &pt = *parts_[i];
    Read &r = reads[i];
    pt.tried_ = r.file->error().empty() ? r.file->stamp() : FileStamp{};
    if (!r.file->error().empty()) {
      log_(Severity::Error, "keyset " + r.file->error() + " (read again when it changes)");
      continue;
    }
    if (!r.parse.ok()) {
      log_(Severity::Error, "keyset " + r.parse.error + " (its keys load when it is fixed)");
      continue;
    }
    for (const auto &rej : r.parse.rejected) log_(Severity::Warn, "keyset " + rej.message + " (skipped)");
    // Across parts, the first of an id or a hash stays, as within a file.
    size_t k = 0;
    r.parse.records.keep_if([&](ValidRecord &v) {
      const size_t at = k++;
      const int line = r.parse.record_lines[at];
      const auto o = owner_.find(v.hash());
      const uint32_t id_part = id_holder[i].empty() ? 0 : id_holder[i][at];
      if (o == owner_.end() && id_part == 0) {
        owner_.emplace(v.hash(), &pt);
        all.push_back(std::move(v));
        return false;
      }
      const FieldError e = o != owner_.end()
                               ? FieldError{"hash", "duplicate: same hash as a key of " + o->second->path_}
                               : FieldError{"id", "duplicate: same id as a key of " + parts_[id_part - 1]->path_};
      log_(Severity::Warn, "keyset " + pt.path_ + ":" + std::to_string(line) + ": " +
                               format_record_error(v.record().id, e) +
                               (o != owner_.end() ? " (taken over if that part drops it)" : " (skipped)"));
      if (o != owner_.end()) pt.claims_[v.hash()] = v.record();
      r.clean = false;
      return false;
    });
    pt.keep(*r.file, r.clean, r.first_item, r.dash);
    r = Read{};  // its records are all's now; its mapping goes
  }
  PreparedLoad prep = prepare_load(std::move(all), applier_.resolver());
  for (const auto &r : prep.unresolved) {
    TokenHash h;
    if (!parse_record_hash(r.hash, h)) continue;
    if (const auto o = owner_.find(h); o != owner_.end()) {
      o->second->refused_[h] = r;
      o->second->kept_clean_ = false;
    }
  }
  applier_.load_prepared(std::move(prep), revision);
  loaded_ = true;
  log_(Severity::Info, "keyset directory " + path_ + ": loaded " + std::to_string(applier_.size()) + " keys from " +
                           std::to_string(parts_.size()) + " part(s)");
  return true;
}

bool FileSource::reload_dir() {
  const uint64_t revision = applier_.revision() + 1;
  bool ok = true, changed = false;
  if (!loaded_) {
    ok = changed = load_dir(revision);
  } else {
    std::vector<std::string> names;
    std::string error;
    if (!list_keyset_parts(path_, names, error)) {
      log_(Severity::Error, error + " (the table keeps its keys)");
      ok = false;
    } else {
      // parts_ and names are both sorted: a merge finds the parts added, kept and gone.
      std::vector<std::unique_ptr<FileSource>> next, gone;
      std::vector<FileSource *> to_read;
      size_t j = 0;
      for (const std::string &name : names) {
        while (j < parts_.size() && parts_[j]->base_ < name) gone.push_back(std::move(parts_[j++]));
        if (j < parts_.size() && parts_[j]->base_ == name) {
          next.push_back(std::move(parts_[j++]));
        } else {
          next.push_back(std::make_unique<FileSource>(loop_, path_ + "/" + name, applier_, log_));
          next.back()->part_of_ = this;
          next.back()->loaded_ = true;
          log_(Severity::Info, "keyset directory " + path_ + ": new part " + name);
        }
        if (stamp_of(next.back()->path_) != next.back()->tried_) to_read.push_back(next.back().get());
      }
      while (j < parts_.size()) gone.push_back(std::move(parts_[j++]));
      parts_ = std::move(next);
      // Every changed part is read before any key is removed (a key moved
      // between parts is put by the one before the other drops it).
      for (FileSource *p : to_read) ok = p->read_part(revision) && ok;
      for (const auto &g : gone) {
        log_(Severity::Info, "keyset directory " + path_ + ": part " + g->base_ + " removed");
        for (const auto &[h, o] : owner_)
          if (o == g.get()) dropped_.emplace_back(h, g.get());
      }
      finish_dir(revision);
      changed = !to_read.empty() || !gone.empty();
    }
  }
  malloc_trim(0);
  healthy_ = ok;
  if (ok) applier_.contact(int64_t(time(nullptr)));
  if (changed && on_change) on_change();
  return ok;
}

}  // namespace edgekey::sync
