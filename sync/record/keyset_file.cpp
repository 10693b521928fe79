// keyset_file.cpp -- reading, writing and locking the YAML keyset file.
#include "sync/record/keyset_file.hpp"

#include "sync/record/atomic_file.hpp"
#include "sync/record/keyset_scan.hpp"
#include "sync/record/record_fields.hpp"
#include "sync/record/side_task.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <exception>
#include <iterator>
#include <thread>
#include <unordered_map>
#include <unistd.h>

namespace edgekey::sync {
namespace {

int line_of(const YAML::Node &n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

// yaml-cpp tags plain scalars "?" and quoted ones "!"; explicit tags are kept.
RawValue to_raw(const YAML::Node &n, bool with_items) {
  RawValue r;
  using K = RawValue::Kind;
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      r.kind = n.Tag() == "?" ? K::Plain : K::String;
      r.text = n.Scalar();
      break;
    case YAML::NodeType::Sequence:
      r.kind = K::List;
      if (with_items) {
        r.items.reserve(n.size());
        for (const auto &item : n) r.items.push_back(to_raw(item, false));
      }
      break;
    case YAML::NodeType::Map: r.kind = K::Map; break;
    default: r.kind = K::Null; break;
  }
  return r;
}

std::string where(std::string_view source, int line) {
  std::string s(source);
  if (line > 0) s += ":" + std::to_string(line);
  return s;
}

// One item of `keys:`: a record, or a rejection. `rec_line` is its first line.
void parse_item(const YAML::Node &item, std::string_view source, KeysetParse &out) {
  int rec_line = line_of(item);
  auto reject = [&](std::string id, int line, std::string reason) {
    if (line <= 0) line = rec_line;
    KeysetRejection rj{std::move(id), line, std::move(reason), {}};
    rj.message = where(source, line) + ": " + rj.reason;
    out.rejected.push_back(std::move(rj));
  };
  if (!item.IsMap()) {
    reject("", rec_line,
           "key record: expected a map of fields, got " + describe_raw(to_raw(item, false)));
    return;
  }
  std::vector<RawField> fields;
  for (const auto &kv : item) {
    if (!kv.first.IsScalar()) {
      reject("", line_of(kv.first), "key record: a field name must be a plain string");
      return;
    }
    const std::string &name = kv.first.Scalar();
    if (is_known_field(name)) fields.push_back(RawField{name, to_raw(kv.second, true), line_of(kv.first)});
  }
  FieldsOutcome o = record_from_fields(fields, rec_line);
  if (!o.record) {
    reject(o.id, o.error.line, format_record_error(o.id, o.error));
    return;
  }
  out.records.push_back(std::move(*o.record));
  out.record_lines.push_back(rec_line);
}

struct TokenHashHash {
  size_t operator()(const std::array<uint8_t, 32> &h) const {
    size_t v;
    std::memcpy(&v, h.data(), sizeof v);  // a token hash is uniformly distributed
    return v;
  }
};

// Drops records repeating an earlier record's hash or id (the first stays).
void reject_duplicates(std::string_view source, KeysetParse &p) {
  std::unordered_map<std::array<uint8_t, 32>, size_t, TokenHashHash> by_hash;
  std::unordered_map<std::string_view, size_t> by_id;
  by_hash.reserve(p.records.size());
  by_id.reserve(p.records.size());
  std::vector<size_t> drop;
  std::vector<KeysetRejection> dups;
  for (size_t i = 0; i < p.records.size(); ++i) {
    const KeyRecord &r = p.records[i];
    const std::array<uint8_t, 32> &h = p.records.hash(i);
    std::optional<FieldError> dup;
    if (auto it = by_hash.find(h); it != by_hash.end())
      dup = FieldError{"hash", "duplicate: same hash as key " + p.records[it->second].id +
                                   " at line " + std::to_string(p.record_lines[it->second])};
    else if (auto jt = by_id.find(r.id); jt != by_id.end())
      dup = FieldError{"id", "duplicate: same id as the key at line " +
                                 std::to_string(p.record_lines[jt->second])};
    if (dup) {
      const FieldError &e = *dup;
      KeysetRejection rj{r.id, p.record_lines[i], format_record_error(r.id, e), {}};
      rj.message = where(source, rj.line) + ": " + rj.reason;
      dups.push_back(std::move(rj));
      drop.push_back(i);
      continue;
    }
    by_hash.emplace(h, i);
    by_id.emplace(r.id, i);
  }
  if (dups.empty()) return;
  by_id.clear();  // holds views of the records moved below
  size_t i = 0, kept = 0, d = 0;
  p.records.keep_if([&](const ValidRecord &) {
    const size_t at = i++;
    if (d < drop.size() && drop[d] == at) return ++d, false;
    p.record_lines[kept++] = p.record_lines[at];
    return true;
  });
  p.record_lines.resize(kept);
  p.rejected.insert(p.rejected.end(), dups.begin(), dups.end());
  std::stable_sort(p.rejected.begin(), p.rejected.end(),
                   [](const KeysetRejection &a, const KeysetRejection &b) { return a.line < b.line; });
}

// Whether two records may share a hash or an id (compared on 64 bits of
// each, sorted): almost never, and then reject_duplicates() decides.
bool maybe_duplicates(const KeysetParse &p) {
  std::vector<uint64_t> hashes, ids;
  hashes.reserve(p.records.size());
  ids.reserve(p.records.size());
  for (size_t i = 0; i < p.records.size(); ++i) {
    const KeyRecord &r = p.records[i];
    uint64_t w[4];
    std::memcpy(w, p.records.hash(i).data(), sizeof w);  // mixed: hashes written by hand may share a prefix
    hashes.push_back(w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ (w[2] * 0xc2b2ae3d27d4eb4full) ^
                     (w[3] * 0x165667b19e3779f9ull));
    ids.push_back(std::hash<std::string_view>{}(r.id));
  }
  for (auto *v : {&hashes, &ids}) {
    std::sort(v->begin(), v->end());
    if (std::adjacent_find(v->begin(), v->end()) != v->end()) return true;
  }
  return false;
}

// The fast reader (keyset_scan.hpp) over the items in [from, to) of `text`
// (`from` an item's line, numbered `line`); false = outside its subset (what
// was delivered is void). Valid records go to on_record(ValidRecord &&,
// line, item), the rest to v.reject; v.record is not used.
template <class OnRecord>
bool stream_fast_items(std::string_view text, size_t from, size_t to, size_t dash_column, int line,
                       std::string_view source, const KeysetVisitor &v, OnRecord &&on_record) {
  std::vector<RawField> fields;
  bool decoded = true;
  const bool supported = scan_items(text, from, to, dash_column, line, [&](const ScanItem &it) {
    if (v.skip && v.skip(it)) return true;
    if (!decode_item(text, it, fields)) return decoded = false;
    KeyRecord r;
    FieldError why;
    if (simple_record(fields, r))
      if (std::optional<ValidRecord> valid = ValidRecord::check(std::move(r), why)) {
        on_record(std::move(*valid), it.line, &it);
        return true;
      }
    FieldsOutcome o = record_from_fields(fields, it.line);  // names the broken rule
    if (!o.record) {
      const int line = o.error.line > 0 ? o.error.line : it.line;
      KeysetRejection rj{o.id, line, format_record_error(o.id, o.error), {}};
      rj.message = where(source, line) + ": " + rj.reason;
      v.reject(std::move(rj));
      return true;
    }
    on_record(std::move(*o.record), it.line, &it);
    return true;
  });
  return supported && decoded;
}

// The fast reader over the whole text.
template <class OnRecord>
bool stream_fast(std::string_view text, std::string_view source, const KeysetVisitor &v, OnRecord &&on_record) {
  ItemsHead h;
  if (!items_head(text, h)) return false;
  if (!h.items) return true;
  return stream_fast_items(text, h.first, text.size(), h.dash, h.line, source, v, std::forward<OnRecord>(on_record));
}

// The start of the first item line at or after `pos` (an item line: `dash`
// spaces, then "- "), or text.size().
size_t next_item_line(std::string_view text, size_t pos, size_t dash) {
  while (pos < text.size()) {
    const size_t nl = pos == 0 ? 0 : text.find('\n', pos - 1);
    if (nl == std::string_view::npos) break;
    const size_t b = pos == 0 ? 0 : nl + 1;
    if (b + dash + 1 < text.size() && text.compare(b + dash, 2, "- ") == 0 &&
        text.substr(b, dash).find_first_not_of(' ') == std::string_view::npos)
      return b;
    pos = b + 1;
  }
  return text.size();
}

// One range of items for parse_fast_ranges, and what reading it gave.
struct ItemRange {
  size_t from = 0, to = 0;
  KeysetParse out;
  bool fast = false;
};

// The fast reader over the items from `first` (line `line`) on, in up to
// `ranges` ranges split at item lines, each on its own thread (the first
// on the caller's); each range's line numbers counted by its own thread.
// False = outside the fast reader's subset. Records and rejections in file
// order, duplicates not yet checked.
bool parse_fast_ranges(std::string_view text, std::string_view source, size_t first, size_t dash, int line,
                       size_t ranges, KeysetParse &out) {
  std::vector<ItemRange> parts;
  for (size_t k = 0, from = first; k < ranges && from < text.size(); ++k) {
    const size_t to = k + 1 == ranges ? text.size()
                                      : next_item_line(text, first + (text.size() - first) * (k + 1) / ranges, dash);
    if (to > from) parts.push_back(ItemRange{from, to, {}, false});
    from = to;
  }
  auto read = [&](ItemRange &r) {
    const int from_line = line + int(std::count(text.data() + first, text.data() + r.from, '\n'));
    // A record in the layout edgekeyctl writes: >= 250 bytes. The first
    // range's vectors take the others' records after it: room for all.
    const size_t room = (&r == &parts[0] ? text.size() - r.from : r.to - r.from) / 200;
    r.out.records.reserve(room);
    r.out.record_lines.reserve(room);
    KeysetVisitor v;
    v.reject = [&](KeysetRejection &&rj) { r.out.rejected.push_back(std::move(rj)); };
    r.fast = stream_fast_items(text, r.from, r.to, dash, from_line, source, v,
                               [&](ValidRecord &&rec, int at, const ScanItem *) {
                                 r.out.records.push_back(std::move(rec));
                                 r.out.record_lines.push_back(at);
                               });
  };
  {
    std::deque<SideTask> others;  // a deque: a SideTask never moves
    for (size_t k = 1; k < parts.size(); ++k) others.emplace_back([&, k] { read(parts[k]); });
    if (!parts.empty()) read(parts[0]);
    for (auto &o : others) o.wait();  // std::bad_alloc in a worker, thrown again here
  }
  for (auto &r : parts)
    if (!r.fast) return false;
  if (parts.empty()) return true;
  size_t n = 0;
  for (auto &r : parts) n += r.out.records.size();
  out = std::move(parts[0].out);  // then the other ranges' records after its own
  out.records.reserve(n);
  out.record_lines.reserve(n);
  for (size_t k = 1; k < parts.size(); ++k) {
    ItemRange &r = parts[k];
    out.records.append(std::move(r.out.records));
    out.record_lines.insert(out.record_lines.end(), r.out.record_lines.begin(), r.out.record_lines.end());
    std::move(r.out.rejected.begin(), r.out.rejected.end(), std::back_inserter(out.rejected));
  }
  return true;
}

std::string sys_error(const std::string &what, const std::string &path) {
  return what + " " + path + ": " + std::strerror(errno);
}

int open_lock(const std::string &lock_path) {
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) throw KeysetError(sys_error("cannot open lock file", lock_path));
  return fd;
}

// True when `s` reads back as the same string in any YAML 1.1/1.2 parser
// when written plain: a conservative character set, no indicator at the
// start, no ": " / "::", and nothing a parser would type (null, booleans,
// numbers, sexagesimals). Everything else is written double-quoted.
bool plain_safe(const std::string &s) {
  if (s.empty() || s.size() > 200) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(s[0]) && s[0] != '_') return false;
  char last = s.back();
  if (last == ':' || last == ' ') return false;
  bool numeric_like = true;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (!alnum(c) && std::string_view("_./@+:- ").find(c) == std::string_view::npos) return false;
    if (c == ':' && i + 1 < s.size() && (s[i + 1] == ' ' || s[i + 1] == ':')) return false;
    if (!(c >= '0' && c <= '9') && std::string_view("._eE+-:xXoObB").find(c) == std::string_view::npos)
      numeric_like = false;
  }
  if (numeric_like) return false;
  static constexpr std::string_view kWords[] = {"null", "true", "false", "yes", "no",
                                                "on",   "off",  "y",     "n"};
  std::string lower;
  for (char c : s) lower += char(c >= 'A' && c <= 'Z' ? c + 32 : c);
  for (auto w : kWords)
    if (lower == w) return false;
  return true;
}

YAML::Emitter &emit_str(YAML::Emitter &e, const std::string &s) {
  if (!plain_safe(s)) e << YAML::DoubleQuoted;
  return e << s;
}

}  // namespace

bool read_valid_item(std::string_view text, const ScanItem &item, std::vector<RawField> &fields, KeyRecord &out) {
  if (!decode_item(text, item, fields)) return false;
  if (simple_record(fields, out) && !validate_record(out)) return true;
  FieldsOutcome o = record_from_fields(fields, item.line);
  if (!o.record) return false;
  out = std::move(*o.record).take();
  return true;
}

std::string stream_keyset(std::string_view text, std::string_view source, const KeysetVisitor &v) {
  if (stream_fast(text, source, v, [&](ValidRecord &&r, int line, const ScanItem *item) {
        v.record(std::move(r).take(), line, item);
      }))
    return "";
  v.restart();
  KeysetParse p = parse_keyset_yaml_full(text, source);
  if (!p.ok()) return p.error;
  // Records and rejections in file order, as the fast reader gives them.
  std::vector<KeyRecord> records = std::move(p.records);
  size_t j = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    for (; j < p.rejected.size() && p.rejected[j].line < p.record_lines[i]; ++j) v.reject(std::move(p.rejected[j]));
    v.record(std::move(records[i]), p.record_lines[i], nullptr);
  }
  for (; j < p.rejected.size(); ++j) v.reject(std::move(p.rejected[j]));
  return "";
}

KeysetParse parse_keyset_yaml(std::string_view text, std::string_view source) {
  // A range per core, of at least kRangeBytes (~16k records): a thread costs ~50 us.
  constexpr size_t kRangeBytes = size_t(4) << 20;
  const size_t cores = std::max(1u, std::min(4u, std::thread::hardware_concurrency()));
  return parse_keyset_yaml_ranges(text, source, std::clamp<size_t>(text.size() / kRangeBytes, 1, cores));
}

KeysetParse parse_keyset_yaml_ranges(std::string_view text, std::string_view source, size_t ranges) {
  KeysetParse out;
  ItemsHead h;
  if (!items_head(text, h)) return parse_keyset_yaml_full(text, source);
  if (!h.items) return out;
  if (!parse_fast_ranges(text, source, h.first, h.dash, h.line, std::max<size_t>(ranges, 1), out))
    return parse_keyset_yaml_full(text, source);
  if (maybe_duplicates(out)) reject_duplicates(source, out);
  return out;
}

KeysetParse parse_keyset_yaml_full(std::string_view text, std::string_view source) {
  KeysetParse out;
  auto refuse = [&](int line, const std::string &why) {
    out = KeysetParse{};
    out.error = where(source, line) + ": " + why;
    return out;
  };
  try {
    YAML::Node doc = YAML::Load(std::string(text));
    if (!doc.IsMap())
      return refuse(line_of(doc), "expected a map with a `keys:` list at the top level");
    YAML::Node keys;
    bool found = false;
    for (const auto &kv : doc)
      if (kv.first.IsScalar() && kv.first.Scalar() == "keys") {
        keys = kv.second;
        found = true;
        break;
      }
    if (!found) return refuse(0, "no top-level `keys:` list");
    if (keys.IsNull()) return out;
    if (!keys.IsSequence())
      return refuse(line_of(keys), "`keys:` must be a list of key records, got " +
                                       describe_raw(to_raw(keys, false)));
    for (const auto &item : keys) parse_item(item, source, out);
    reject_duplicates(source, out);
    return out;
  } catch (const YAML::Exception &e) {
    return refuse(e.mark.line >= 0 ? e.mark.line + 1 : 0, "not YAML: " + e.msg);
  } catch (const std::bad_alloc &) {
    throw;
  } catch (const std::exception &e) {
    return refuse(0, std::string("cannot read the keyset: ") + e.what());
  }
}

KeysetParse load_keyset_file(const std::string &path) {
  MappedFile f(path);
  if (!f.error().empty()) {
    KeysetParse out;
    out.error = f.error();
    out.not_found = f.not_found();
    return out;
  }
  return parse_keyset_yaml(f.text(), path);
}

MappedFile::MappedFile(const std::string &path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    not_found_ = errno == ENOENT;
    error_ = sys_error("cannot open keyset file", path);
    return;
  }
  struct stat st{};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    stamp_ = FileStamp::of(st);
    fd_ = fd;
    if (st.st_size == 0) return;
    void *m = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      ::madvise(m, size_t(st.st_size), MADV_SEQUENTIAL);
      map_ = m;
      size_ = size_t(st.st_size);
      return;
    }
    fd_ = -1;
    stamp_ = FileStamp{};
  }
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = sys_error("cannot read keyset file", path);
      copy_.clear();
      break;
    }
    if (n == 0) break;
    copy_.append(buf, size_t(n));
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, size_);
  if (fd_ >= 0) ::close(fd_);
}

namespace {

void emit_value(YAML::Emitter &e, const FieldSpec &, const std::string &v) { emit_str(e, v); }
void emit_value(YAML::Emitter &e, const FieldSpec &, const std::vector<std::string> &v) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto &s : v) emit_str(e, s);
  e << YAML::EndSeq;
}
void emit_value(YAML::Emitter &e, const FieldSpec &s, const std::optional<int64_t> &v) {
  if (!v) e << YAML::Null;
  else if (s.kind == FieldKind::Time) e << format_time(*v);  // always plain-safe
  else e << *v;
}
template <class E>
void emit_value(YAML::Emitter &e, const FieldSpec &, E v) {
  e << choice_name(v);
}

}  // namespace

std::string emit_keyset_yaml(const std::vector<KeyRecord> &records) {
  YAML::Emitter e;
  e.SetNullFormat(YAML::LowerNull);
  e.SetIndent(2);
  e << YAML::BeginMap << YAML::Key << "keys" << YAML::Value << YAML::BeginSeq;
  for (const auto &r : records) {
    e << YAML::BeginMap;
    for_each_field(r, [&](const FieldSpec &s, const auto &m) {
      const bool absent = !s.required && field_absent(m);
      if (absent && s.yaml == Absent::Omitted) return;
      e << YAML::Key << std::string(s.name) << YAML::Value;
      if (absent && s.yaml == Absent::Null) e << YAML::Null;
      else emit_value(e, s, m);
    });
    e << YAML::EndMap;
  }
  e << YAML::EndSeq << YAML::EndMap;
  if (!e.good()) throw KeysetError("cannot write keyset YAML: " + e.GetLastError());
  std::string text = e.c_str();
  if (records.empty()) text = "keys: []";
  return text + "\n";
}

void save_keyset_file(const std::string &path, const std::vector<KeyRecord> &records) {
  for (const auto &r : records)
    if (auto err = validate_record(r))
      throw KeysetError("refusing to write " + path + ": " + format_record_error(r.id, *err));
  replace_file_atomically(path, emit_keyset_yaml(records), 0640);
}

KeysetLock::KeysetLock(const std::string &keyset_path) : path_(keyset_path + ".lock") {
  fd_ = open_lock(path_);
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd_);
    errno = err;
    throw KeysetError(sys_error("cannot lock", path_));
  }
}

std::optional<KeysetLock> KeysetLock::try_acquire(const std::string &keyset_path) {
  std::string path = keyset_path + ".lock";
  int fd = open_lock(path);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::nullopt;
    errno = err;
    throw KeysetError(sys_error("cannot lock", path));
  }
  return KeysetLock(fd, std::move(path));
}

KeysetLock::~KeysetLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

KeysetLock::KeysetLock(KeysetLock &&o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) {
  o.fd_ = -1;
}

KeysetLock &KeysetLock::operator=(KeysetLock &&o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

}  // namespace edgekey::sync
