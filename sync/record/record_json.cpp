// record_json.cpp -- JSON codec of key records (see record_json.hpp).
#include "sync/record/record_json.hpp"

#include "sync/record/record_fields.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <charconv>
#include <cstring>
#include <type_traits>

namespace edgekey::sync {
namespace {

// Scalars keep their spelling (numbers: their shortest round-trip form); a
// list keeps one level of items.
RawValue to_raw(simdjson::dom::element v, bool with_items) {
  RawValue r;
  using K = RawValue::Kind;
  using T = simdjson::dom::element_type;
  char buf[32];
  switch (v.type()) {
    case T::NULL_VALUE: r.kind = K::Null; break;
    case T::STRING: {
      r.kind = K::String;
      r.text = v.get_string().value_unsafe();  // the type was checked
      break;
    }
    case T::BOOL: {
      r.kind = K::Bool;
      r.text = v.get_bool().value_unsafe() ? "true" : "false";
      break;
    }
    case T::INT64: {
      r.kind = K::Number;
      r.text = std::to_string(v.get_int64().value_unsafe());
      break;
    }
    case T::UINT64: {
      r.kind = K::Number;
      r.text = std::to_string(v.get_uint64().value_unsafe());
      break;
    }
    case T::DOUBLE: {
      r.kind = K::Number;
      auto res = std::to_chars(buf, buf + sizeof buf, v.get_double().value_unsafe());
      r.text.assign(buf, res.ptr);
      break;
    }
    case T::ARRAY: {
      r.kind = K::List;
      if (with_items) {
        simdjson::dom::array a = v.get_array().value_unsafe();
        r.items.reserve(a.size());
        for (simdjson::dom::element item : a) r.items.push_back(to_raw(item, false));
      }
      break;
    }
    default: r.kind = K::Map; break;
  }
  return r;
}

std::string without_controls(std::string s) {
  for (char &c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

}  // namespace

namespace {

// ---- fast path -------------------------------------------------------------
// A record whose known fields each appear once with exactly the expected JSON
// type, and that passes ValidRecord::check(), is read straight from the DOM.
// Anything else returns false and goes through record_from_fields(), which
// gives the same record for what the fast path accepts and the exact error
// otherwise (so the fast path never decides an error).

enum Field : uint8_t {
  kId, kHash, kWorkspace, kName, kType, kEnv, kRole, kScopes, kRegions, kOrigins, kCidrs,
  kCreatedAt, kExpiresAt, kStatus, kRevokedAt, kRotatedFrom, kOriginWrittenAt, kUnknown
};

Field field_of(std::string_view k) {
  switch (k.size()) {
    case 2: return k == "id" ? kId : kUnknown;
    case 3: return k == "env" ? kEnv : kUnknown;
    case 4: return k == "hash" ? kHash : k == "name" ? kName : k == "type" ? kType : k == "role" ? kRole : kUnknown;
    case 6: return k == "scopes" ? kScopes : k == "status" ? kStatus : kUnknown;
    case 7: return k == "regions" ? kRegions : kUnknown;
    case 9: return k == "workspace" ? kWorkspace : kUnknown;
    case 10:
      return k == "created_at" ? kCreatedAt : k == "expires_at" ? kExpiresAt : k == "revoked_at" ? kRevokedAt : kUnknown;
    case 12: return k == "rotated_from" ? kRotatedFrom : kUnknown;
    case 13: return k == "allowed_cidrs" ? kCidrs : kUnknown;
    case 15: return k == "allowed_origins" ? kOrigins : kUnknown;
    case 17: return k == "origin_written_at" ? kOriginWrittenAt : kUnknown;
    default: return kUnknown;
  }
}

using simdjson::dom::element;
using T = simdjson::dom::element_type;

bool fast_text(element v, std::string &out) {
  if (v.type() != T::STRING) return false;
  out = v.get_string().value_unsafe();
  return true;
}

bool fast_optional_text(element v, std::string &out) { return v.type() == T::NULL_VALUE || fast_text(v, out); }

bool fast_list(element v, std::vector<std::string> &out) {
  if (v.type() == T::NULL_VALUE) return true;
  if (v.type() != T::ARRAY) return false;
  simdjson::dom::array a = v.get_array().value_unsafe();
  out.reserve(a.size());
  for (element item : a) {
    if (item.type() != T::STRING) return false;
    out.emplace_back(item.get_string().value_unsafe());
  }
  return true;
}

bool fast_time(element v, std::optional<int64_t> &out) {
  if (v.type() == T::NULL_VALUE) return true;
  int64_t t;
  if (v.type() != T::STRING || !parse_time(v.get_string().value_unsafe(), t)) return false;
  out = t;
  return true;
}

template <class E>
bool fast_choice(element v, E &out, bool (*parse)(std::string_view, E &)) {
  return v.type() == T::STRING && parse(v.get_string().value_unsafe(), out);
}

bool fast_record(simdjson::dom::object obj, KeyRecord &r) {
  uint32_t seen = 0;
  for (simdjson::dom::key_value_pair kv : obj) {
    const Field f = field_of(kv.key);
    if (f == kUnknown) continue;
    if (seen & (1u << f)) return false;  // given twice
    seen |= 1u << f;
    const element v = kv.value;
    bool ok = false;
    switch (f) {
      case kId: ok = fast_text(v, r.id); break;
      case kHash: ok = fast_text(v, r.hash); break;
      case kWorkspace: ok = fast_text(v, r.workspace); break;
      case kName: ok = fast_optional_text(v, r.name); break;
      case kType: ok = fast_choice(v, r.type, parse_key_type); break;
      case kEnv: ok = fast_choice(v, r.env, parse_key_env); break;
      case kRole: ok = fast_text(v, r.role); break;
      case kScopes: ok = fast_list(v, r.scopes); break;
      case kRegions: ok = fast_list(v, r.regions); break;
      case kOrigins: ok = fast_list(v, r.allowed_origins); break;
      case kCidrs: ok = fast_list(v, r.allowed_cidrs); break;
      case kCreatedAt: ok = fast_time(v, r.created_at); break;
      case kExpiresAt: ok = fast_time(v, r.expires_at); break;
      case kStatus: ok = fast_choice(v, r.status, parse_key_status); break;
      case kRevokedAt: ok = fast_time(v, r.revoked_at); break;
      case kRotatedFrom: ok = fast_optional_text(v, r.rotated_from); break;
      case kOriginWrittenAt:
        ok = v.type() == T::NULL_VALUE || v.type() == T::INT64;
        if (v.type() == T::INT64) r.origin_written_at = v.get_int64().value_unsafe();
        break;
      case kUnknown: break;
    }
    if (!ok) return false;
  }
  constexpr uint32_t kRequired =
      1u << kId | 1u << kHash | 1u << kWorkspace | 1u << kType | 1u << kEnv | 1u << kRole | 1u << kStatus;
  return (seen & kRequired) == kRequired;
}

// ---- general path ----------------------------------------------------------

Expected<ValidRecord> decode_parsed(simdjson::dom::element doc, bool fast) {
  using R = Expected<ValidRecord>;
  simdjson::dom::object obj;
  if (doc.get(obj)) {
    RawValue v = to_raw(doc, false);
    return R::failure("key record: expected a JSON object, got " + describe_raw(v));
  }
  if (fast) {
    KeyRecord r;
    FieldError why;
    if (fast_record(obj, r))
      if (std::optional<ValidRecord> v = ValidRecord::check(std::move(r), why)) return R::success(std::move(*v));
  }
  std::vector<RawField> fields;
  fields.reserve(17);
  for (simdjson::dom::key_value_pair kv : obj)
    if (is_known_field(kv.key)) fields.push_back(RawField{std::string(kv.key), to_raw(kv.value, true), 0});
  FieldsOutcome o = record_from_fields(fields, 0);
  if (!o.record) return R::failure(format_record_error(o.id, o.error));
  return R::success(std::move(*o.record));
}

Expected<ValidRecord> decode(std::string_view text, bool fast) {
  using R = Expected<ValidRecord>;
  try {
    // One parser per thread, reused: its buffers are sized to the largest
    // record seen, so a snapshot decodes without a parser allocation per
    // record. The DOM parse validates the whole text (UTF-8 included) and
    // bounds nesting depth.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(text.data(), text.size(), true).get(doc))
      return R::failure(std::string("key record: not JSON: ") + simdjson::error_message(err));
    return decode_parsed(doc, fast);
  } catch (const std::exception &e) {
    return R::failure(std::string("key record: cannot decode: ") + without_controls(e.what()));
  } catch (...) {
    return R::failure("key record: cannot decode");
  }
}

}  // namespace

Expected<ValidRecord> decode_record_json(std::string_view text) { return decode(text, true); }

Expected<ValidRecord> decode_record_json_by_fields(std::string_view text) { return decode(text, false); }

namespace {

// ---- encoding ----------------------------------------------------------------
// The direct writer produces nlohmann's compact output byte for byte for
// records whose strings are printable ASCII (escaping only '"' and '\\');
// anything else (control characters, UTF-8 to check or replace) goes through
// nlohmann. Tests compare the two.

bool plain_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

bool all_plain(const KeyRecord &r) {
  bool plain = true;
  for_each_field(r, [&](const FieldSpec &, const auto &m) {
    using M = std::remove_cvref_t<decltype(m)>;
    if constexpr (std::is_same_v<M, std::string>) plain = plain && plain_ascii(m);
    else if constexpr (std::is_same_v<M, std::vector<std::string>>)
      for (const auto &v : m) plain = plain && plain_ascii(v);
  });
  return plain;
}

void put_string(std::string &out, std::string_view s) {
  out += '"';
  if (!std::memchr(s.data(), '"', s.size()) && !std::memchr(s.data(), '\\', s.size())) {
    out.append(s);  // the common case: nothing to escape
  } else {
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
  }
  out += '"';
}

void put_list(std::string &out, const std::vector<std::string> &list) {
  out += '[';
  for (size_t i = 0; i < list.size(); ++i) {
    if (i) out += ',';
    put_string(out, list[i]);
  }
  out += ']';
}

void put_value(std::string &out, const FieldSpec &, const std::string &v) { put_string(out, v); }
void put_value(std::string &out, const FieldSpec &, const std::vector<std::string> &v) { put_list(out, v); }
void put_value(std::string &out, const FieldSpec &s, const std::optional<int64_t> &v) {
  if (!v) out += "null";
  else if (s.kind == FieldKind::Time) put_string(out, format_time(*v));
  else out += std::to_string(*v);
}
template <class E>
void put_value(std::string &out, const FieldSpec &, E v) {
  put_string(out, choice_name(v));
}

void put_direct(std::string &out, const KeyRecord &r) {
  bool first = true;
  for_each_field(r, [&](const FieldSpec &s, const auto &m) {
    const bool absent = !s.required && field_absent(m);
    if (absent && s.json == Absent::Omitted) return;
    out += first ? "{\"" : ",\"";
    first = false;
    out.append(s.name);
    out += "\":";
    if (absent && s.json == Absent::Null) out += "null";
    else put_value(out, s, m);
  });
  out += first ? "{}" : "}";
}

nlohmann::ordered_json json_value(const FieldSpec &, const std::string &v) { return v; }
nlohmann::ordered_json json_value(const FieldSpec &, const std::vector<std::string> &v) { return v; }
nlohmann::ordered_json json_value(const FieldSpec &s, const std::optional<int64_t> &v) {
  if (!v) return nullptr;
  if (s.kind == FieldKind::Time) return format_time(*v);
  return *v;
}
template <class E>
nlohmann::ordered_json json_value(const FieldSpec &, E v) {
  return choice_name(v);
}

}  // namespace

nlohmann::ordered_json record_json_value(const KeyRecord &r) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for_each_field(r, [&](const FieldSpec &s, const auto &m) {
    const bool absent = !s.required && field_absent(m);
    if (absent && s.json == Absent::Omitted) return;
    j[std::string(s.name)] = absent && s.json == Absent::Null ? nlohmann::ordered_json(nullptr) : json_value(s, m);
  });
  return j;
}

std::string encode_record_json_generic(const KeyRecord &r) {
  return record_json_value(r).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void append_record_json(std::string &out, const KeyRecord &r) {
  if (all_plain(r)) put_direct(out, r);
  else out += encode_record_json_generic(r);
}

std::string encode_record_json(const KeyRecord &r) {
  std::string out;
  append_record_json(out, r);
  return out;
}

}  // namespace edgekey::sync
