// keyset_file.cpp -- reading, writing and locking the YAML keyset file.
#include "sync/keyset_file.hpp"

#include "sync/atomic_file.hpp"
#include "sync/record_fields.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <sys/file.h>
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

// Drops records repeating an earlier record's hash or id (the first stays).
void reject_duplicates(std::string_view source, KeysetParse &p) {
  std::map<std::array<uint8_t, 32>, size_t> by_hash;
  std::map<std::string, size_t, std::less<>> by_id;
  std::vector<KeyRecord> kept;
  std::vector<int> kept_lines;
  std::vector<KeysetRejection> dups;
  for (size_t i = 0; i < p.records.size(); ++i) {
    const KeyRecord &r = p.records[i];
    std::array<uint8_t, 32> h{};
    parse_record_hash(r.hash, h);  // valid records: always parses
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
      continue;
    }
    by_hash.emplace(h, i);
    by_id.emplace(r.id, i);
    kept.push_back(r);
    kept_lines.push_back(p.record_lines[i]);
  }
  if (dups.empty()) return;
  p.records = std::move(kept);
  p.record_lines = std::move(kept_lines);
  p.rejected.insert(p.rejected.end(), dups.begin(), dups.end());
  std::stable_sort(p.rejected.begin(), p.rejected.end(),
                   [](const KeysetRejection &a, const KeysetRejection &b) { return a.line < b.line; });
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

KeysetParse parse_keyset_yaml(std::string_view text, std::string_view source) {
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
  KeysetParse out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    out.not_found = errno == ENOENT;
    out.error = sys_error("cannot open keyset file", path);
    return out;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.error = sys_error("cannot read keyset file", path);
      ::close(fd);
      return out;
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
  }
  ::close(fd);
  return parse_keyset_yaml(text, path);
}

std::string emit_keyset_yaml(const std::vector<KeyRecord> &records) {
  YAML::Emitter e;
  e.SetNullFormat(YAML::LowerNull);
  e.SetIndent(2);
  auto list = [&](const char *name, const std::vector<std::string> &v) {
    e << YAML::Key << name << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto &s : v) emit_str(e, s);
    e << YAML::EndSeq;
  };
  auto time = [&](const char *name, const std::optional<int64_t> &t) {
    if (t) e << YAML::Key << name << YAML::Value << format_time(*t);  // always plain-safe
  };
  e << YAML::BeginMap << YAML::Key << "keys" << YAML::Value << YAML::BeginSeq;
  for (const auto &r : records) {
    e << YAML::BeginMap;
    e << YAML::Key << "id" << YAML::Value;
    emit_str(e, r.id);
    e << YAML::Key << "hash" << YAML::Value;
    emit_str(e, r.hash);
    e << YAML::Key << "workspace" << YAML::Value;
    emit_str(e, r.workspace);
    if (!r.name.empty()) emit_str(e << YAML::Key << "name" << YAML::Value, r.name);
    e << YAML::Key << "type" << YAML::Value << key_type_name(r.type);
    e << YAML::Key << "env" << YAML::Value << key_env_name(r.env);
    e << YAML::Key << "role" << YAML::Value;
    emit_str(e, r.role);
    list("scopes", r.scopes);
    list("regions", r.regions);
    list("allowed_origins", r.allowed_origins);
    list("allowed_cidrs", r.allowed_cidrs);
    time("created_at", r.created_at);
    e << YAML::Key << "expires_at" << YAML::Value;
    if (r.expires_at) e << format_time(*r.expires_at);
    else e << YAML::Null;
    e << YAML::Key << "status" << YAML::Value << key_status_name(r.status);
    time("revoked_at", r.revoked_at);
    if (!r.rotated_from.empty())
      emit_str(e << YAML::Key << "rotated_from" << YAML::Value, r.rotated_from);
    if (r.origin_written_at)
      e << YAML::Key << "origin_written_at" << YAML::Value << *r.origin_written_at;
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
