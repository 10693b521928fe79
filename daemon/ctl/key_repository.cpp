#include "daemon/ctl/key_repository.hpp"

#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/nats_key_repository.hpp"
#include "daemon/ctl/new_key.hpp"
#include "sync/record/keyset_dir.hpp"
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <memory>
#include <thread>
#include <unordered_map>

namespace edgekey::ctl {

std::string FileKeyRepository::where() const { return (is_dir() ? "keyset directory " : "keyset file ") + path_; }

bool FileKeyRepository::is_dir() const { return sync::is_keyset_dir(path_); }

std::vector<sync::KeyRecord> FileKeyRepository::load() {
  if (is_dir()) return load_dir();
  sync::KeysetParse p = sync::load_keyset_file(path_);
  unreadable_.clear();
  if (p.not_found) return {};
  if (!p.ok()) throw CtlError(kExitKeysetIo, p.error);
  for (const auto &r : p.rejected) unreadable_.push_back(r.message);
  return std::move(p.records);
}

std::vector<sync::KeyRecord> FileKeyRepository::list() { return load(); }

std::optional<sync::KeyRecord> FileKeyRepository::get(std::string_view id) {
  for (auto &r : load())
    if (r.id == id) return std::move(r);
  return std::nullopt;
}

namespace {

// The refusal of a write while records do not load (a rewrite would drop them).
CtlError unreadable_error(const std::string &path, const std::vector<std::string> &unreadable) {
  return CtlError(kExitKeysetIo, path + " has " + std::to_string(unreadable.size()) +
                                     " record(s) that do not load, which a rewrite would drop; fix or remove them "
                                     "first (" + unreadable.front() + ")");
}

// Runs a keyset write; a KeysetError becomes the CtlError edgekeyctl exits with.
template <class F>
void keyset_io(F &&f) {
  try {
    f();
  } catch (const sync::KeysetError &e) {
    // Nothing was written (the keyset, its lock and no temp file are as before).
    if (e.error_number == ENOSPC || e.error_number == EDQUOT)
      throw CtlError(kExitKeysetIo, std::string("no change made: ") + e.what() +
                                        "; make room on that filesystem and run the command again");
    throw CtlError(kExitKeysetIo, e.what());
  }
}

void check_puts(const std::vector<sync::KeyRecord> &puts) {
  for (const auto &r : puts)
    if (auto e = sync::validate_record(r)) throw CtlError(kExitUsage, sync::format_record_error(r.id, *e));
}

class VectorLookup final : public KeyRepository::Lookup {
 public:
  explicit VectorLookup(const std::vector<sync::KeyRecord> &records) : records_(records) {}
  std::optional<sync::KeyRecord> find(std::string_view id) const override {
    for (const auto &r : records_)
      if (r.id == id) return r;
    return std::nullopt;
  }

 private:
  const std::vector<sync::KeyRecord> &records_;
};

class EditorLookup final : public KeyRepository::Lookup {
 public:
  explicit EditorLookup(const sync::KeysetEditor &e) : e_(e) {}
  std::optional<sync::KeyRecord> find(std::string_view id) const override { return e_.find(id); }

 private:
  const sync::KeysetEditor &e_;
};

}  // namespace

void KeyRepository::update_by_id(const LookupChange &change) {
  update([&](const std::vector<sync::KeyRecord> &current) { return change(VectorLookup(current)); });
}

std::string unused_key_id(const KeyRepository::Lookup &current) {
  for (;;) {
    std::string id = new_key_id();
    if (!current.find(id)) return id;
  }
}

void FileKeyRepository::update(const Change &change) {
  keyset_io([&] {
    if (is_dir()) {
      sync::KeysetLock lock(sync::keyset_dir_lock_base(path_));
      update_dir(&change, nullptr);
      return;
    }
    sync::KeysetLock lock(path_);
    update_locked(change);
  });
}

void FileKeyRepository::update_locked(const Change &change) {
  std::vector<sync::KeyRecord> records = load();
  if (!unreadable_.empty()) throw unreadable_error(path_, unreadable_);
  const std::vector<sync::KeyRecord> puts = change(records);
  if (puts.empty()) return;
  merge_records(records, puts);
  check_puts(puts);
  sync::save_keyset_file(path_, records);
}

namespace {

// A full read may be kept as the file's index only when the file did not
// change within the last clock ticks: a write in the same tick as the
// stamp, after it, could leave the stamp as it was (git's "racy clean").
bool settled(const sync::FileStamp &st) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const int64_t now_ns = int64_t(now.tv_sec) * 1000000000 + now.tv_nsec;
  return now_ns - std::max(st.mtime_ns, st.ctime_ns) > 1000000000;
}

}  // namespace

void FileKeyRepository::update_by_id(const LookupChange &change) {
  keyset_io([&] {
    if (is_dir()) {
      sync::KeysetLock lock(sync::keyset_dir_lock_base(path_));
      update_dir(nullptr, &change);
      return;
    }
    sync::KeysetLock lock(path_);
    sync::KeysetEditor editor;
    const std::string index_path = sync::keyset_index_path(path_);
    sync::MappedFile f(path_);
    if (!f.error().empty() && !f.not_found()) throw CtlError(kExitKeysetIo, f.error());
    // The file as edgekeyctl last wrote or checked it: only the records looked up are decoded.
    bool indexed = false;
    if (!f.not_found() && f.fd() >= 0)
      if (std::optional<sync::KeysetIndex> idx = sync::load_keyset_index(index_path, f.stamp()))
        indexed = editor.adopt(f.text(), std::move(*idx), path_);
    // Otherwise every item's id and hash (what the edit must not repeat), on two threads; a file
    // where that does not do (an item without a readable id or hash, a form only the full parser
    // reads) has every record judged.
    if (!indexed && (f.not_found() || !(editor.scan(f.text(), path_) || editor.read(f.text(), path_)))) {
      // A new file, or one only the full parser reads: read and written whole.
      update_locked([&](const std::vector<sync::KeyRecord> &current) { return change(VectorLookup(current)); });
      return;
    }
    unreadable_.clear();
    for (const auto &r : editor.rejected()) unreadable_.push_back(r.message);
    if (!unreadable_.empty()) throw unreadable_error(path_, unreadable_);
    const std::vector<sync::KeyRecord> puts = change(EditorLookup(editor));
    if (puts.empty()) {
      if (!indexed && f.fd() >= 0 && settled(f.stamp())) sync::save_keyset_index(index_path, editor.index(f.stamp()));
      return;
    }
    // merge_records' rule: a put may not take the hash of another key (nor of an earlier put).
    for (size_t i = 0; i < puts.size(); ++i) {
      std::optional<std::string> owner = editor.hash_owner(puts[i].hash, puts[i].id);
      for (size_t j = 0; j < i && !owner; ++j)
        if (puts[j].hash == puts[i].hash && puts[j].id != puts[i].id) owner = puts[j].id;
      if (owner) throw CtlError(kExitUsage, "key " + puts[i].id + " would have the same hash as key " + *owner);
    }
    check_puts(puts);
    // The changed bytes are noted for edgekeyd (KeysetSpliceNote), which then compares only there.
    const sync::KeysetIndex next = editor.write(path_, puts, f.fd(), f.fd() >= 0 ? &f.stamp() : nullptr);
    if (next.stamp.ino) sync::save_keyset_index(index_path, next);
  });
}

namespace {

std::vector<std::string> dir_parts(const std::string &dir) {
  std::vector<std::string> names;
  std::string error;
  if (!sync::list_keyset_parts(dir, names, error)) throw CtlError(kExitKeysetIo, error);
  return names;
}

// One part of a keyset directory, as an edit reads it: through its index or
// a scan (editor), or, in a form only the full parser reads or for a change
// that needs every record, parsed whole (records).
struct DirPart {
  std::string name, path;
  std::unique_ptr<sync::MappedFile> file;
  sync::KeysetEditor editor;
  bool edited = false, indexed = false;  // edited: through the editor
  std::vector<sync::KeyRecord> records;  // when not edited
  size_t size() const { return edited ? editor.size() : records.size(); }
  std::optional<sync::KeyRecord> find(std::string_view id) const {
    if (edited) return editor.find(id);
    for (const auto &r : records)
      if (r.id == id) return r;
    return std::nullopt;
  }
  std::optional<std::string> hash_owner(const std::string &hash, std::string_view id) const {
    if (edited) return editor.hash_owner(hash, id);
    for (const auto &r : records)
      if (r.hash == hash && r.id != id) return r.id;
    return std::nullopt;
  }
};

class DirLookup final : public KeyRepository::Lookup {
 public:
  explicit DirLookup(const std::vector<std::unique_ptr<DirPart>> &parts) : parts_(parts) {}
  std::optional<sync::KeyRecord> find(std::string_view id) const override {
    for (const auto &p : parts_)
      if (auto r = p->find(id)) return r;
    return std::nullopt;
  }

 private:
  const std::vector<std::unique_ptr<DirPart>> &parts_;
};

}  // namespace

std::vector<sync::KeyRecord> FileKeyRepository::load_dir() {
  unreadable_.clear();
  std::vector<sync::KeyRecord> out;
  // The first part of each id and hash: a repeat in a later part is not loaded, as within a file.
  std::unordered_map<std::string, std::string> id_part, hash_part;
  for (const std::string &name : dir_parts(path_)) {
    const std::string part = path_ + "/" + name;
    sync::KeysetParse p = sync::load_keyset_file(part);
    if (p.not_found) continue;  // removed since listed
    if (!p.ok()) throw CtlError(kExitKeysetIo, p.error);
    for (const auto &r : p.rejected) unreadable_.push_back(r.message);
    for (size_t i = 0; i < p.records.size(); ++i) {
      const sync::KeyRecord &r = p.records[i];
      const auto h = hash_part.find(r.hash);
      const auto d = h == hash_part.end() ? id_part.find(r.id) : id_part.end();
      if (h != hash_part.end() || d != id_part.end()) {
        const sync::FieldError e = h != hash_part.end()
                                       ? sync::FieldError{"hash", "duplicate: same hash as a key of " + h->second}
                                       : sync::FieldError{"id", "duplicate: same id as a key of " + d->second};
        unreadable_.push_back(part + ":" + std::to_string(p.record_lines[i]) + ": " +
                              sync::format_record_error(r.id, e));
        continue;
      }
      hash_part.emplace(r.hash, part);
      id_part.emplace(r.id, part);
      out.push_back(r);
    }
  }
  return out;
}

void FileKeyRepository::update_dir(const Change *change, const LookupChange *by_id) {
  std::vector<std::unique_ptr<DirPart>> parts;
  for (const std::string &name : dir_parts(path_)) {
    parts.push_back(std::make_unique<DirPart>());
    parts.back()->name = name;
    parts.back()->path = path_ + "/" + name;
  }
  // Each part opened and indexed (its index, else a scan), two parts at a time.
  std::atomic<size_t> next{0};
  auto open_parts = [&] {
    for (size_t i; (i = next++) < parts.size();) {
      DirPart &part = *parts[i];
      part.file = std::make_unique<sync::MappedFile>(part.path);
      const sync::MappedFile &f = *part.file;
      if (!by_id || !f.error().empty() || f.fd() < 0) continue;
      if (auto idx = sync::load_keyset_index(sync::keyset_index_path(part.path), f.stamp()))
        part.indexed = part.edited = part.editor.adopt(f.text(), std::move(*idx), part.path);
      if (!part.edited) part.edited = part.editor.scan(f.text(), part.path) || part.editor.read(f.text(), part.path);
    }
  };
  {
    std::thread other(open_parts);
    open_parts();
    other.join();
  }
  unreadable_.clear();
  std::erase_if(parts, [](const auto &p) { return p->file->not_found(); });  // removed since listed
  for (auto &part : parts) {
    const sync::MappedFile &f = *part->file;
    if (!f.error().empty()) throw CtlError(kExitKeysetIo, f.error());
    if (part->edited) {
      for (const auto &r : part->editor.rejected()) unreadable_.push_back(r.message);
    } else {
      sync::KeysetParse p = sync::parse_keyset_yaml(f.text(), part->path);
      if (!p.ok()) throw CtlError(kExitKeysetIo, p.error);
      for (const auto &r : p.rejected) unreadable_.push_back(r.message);
      part->records.assign(p.records.begin(), p.records.end());
    }
  }
  if (!unreadable_.empty()) throw unreadable_error(path_, unreadable_);

  std::vector<sync::KeyRecord> puts;
  if (by_id) {
    puts = (*by_id)(DirLookup(parts));
  } else {
    std::vector<sync::KeyRecord> current;
    for (const auto &p : parts) current.insert(current.end(), p->records.begin(), p->records.end());
    puts = (*change)(current);
  }
  // What was scanned and stays as it is: its index, so that the next edit does not scan it again.
  auto save_indexes = [&] {
    for (const auto &p : parts)
      if (p->edited && !p->indexed && p->file->fd() >= 0 && settled(p->file->stamp()))
        sync::save_keyset_index(sync::keyset_index_path(p->path), p->editor.index(p->file->stamp()));
  };
  if (puts.empty()) {
    save_indexes();
    return;
  }
  // merge_records' rule across every part: a put may not take the hash of another key (nor of an earlier put).
  for (size_t i = 0; i < puts.size(); ++i) {
    std::optional<std::string> owner;
    for (size_t k = 0; k < parts.size() && !owner; ++k) owner = parts[k]->hash_owner(puts[i].hash, puts[i].id);
    for (size_t j = 0; j < i && !owner; ++j)
      if (puts[j].hash == puts[i].hash && puts[j].id != puts[i].id) owner = puts[j].id;
    if (owner) throw CtlError(kExitUsage, "key " + puts[i].id + " would have the same hash as key " + *owner);
  }
  check_puts(puts);

  // Which part each put goes to: the part holding its id; a new id, to the
  // part of the first put whose id is held (rotate), else to the part for new keys.
  std::vector<std::string> target(puts.size());
  std::string anchor;
  for (size_t i = 0; i < puts.size(); ++i)
    for (const auto &p : parts)
      if (p->find(puts[i].id)) {
        target[i] = p->name;
        if (anchor.empty()) anchor = p->name;
        break;
      }
  if (anchor.empty()) {
    std::vector<std::string> names;
    std::vector<size_t> counts;
    for (const auto &p : parts) {
      names.push_back(p->name);
      counts.push_back(p->size());
    }
    anchor = sync::keyset_part_for_new_key(names, counts);
  }
  for (auto &t : target)
    if (t.empty()) t = anchor;

  std::vector<std::string> written;
  for (size_t i = 0; i < puts.size(); ++i) {
    if (std::find(written.begin(), written.end(), target[i]) != written.end()) continue;
    written.push_back(target[i]);
    std::vector<sync::KeyRecord> mine;
    for (size_t j = i; j < puts.size(); ++j)
      if (target[j] == target[i]) mine.push_back(puts[j]);
    const auto p = std::find_if(parts.begin(), parts.end(), [&](const auto &q) { return q->name == target[i]; });
    const std::string path = path_ + "/" + target[i];
    if (p == parts.end()) {  // a new part
      sync::save_keyset_file(path, mine);
    } else if ((*p)->edited) {
      const sync::MappedFile &f = *(*p)->file;
      const sync::KeysetIndex next = (*p)->editor.write(path, mine, f.fd(), f.fd() >= 0 ? &f.stamp() : nullptr);
      if (next.stamp.ino) sync::save_keyset_index(sync::keyset_index_path(path), next);
      (*p)->indexed = true;  // its index is the new file's
    } else {
      merge_records((*p)->records, mine);
      sync::save_keyset_file(path, (*p)->records);
    }
  }
  save_indexes();
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

std::unique_ptr<KeyRepository> open_key_store(const daemon::Config &cfg) {
  if (cfg.upstream.kind == daemon::UpstreamKind::Nats)
    return std::make_unique<NatsKeyRepository>(cfg.upstream.nats, cfg.source);
  return std::make_unique<FileKeyRepository>(cfg.upstream.file);
}

}  // namespace edgekey::ctl
