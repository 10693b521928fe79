// record_json.cpp -- JSON codec of key records (see record_json.hpp).
#include "sync/record/record_json.hpp"

#include "sync/record/record_fields.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <charconv>
#include <cstring>

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

nlohmann::ordered_json time_or_null(const std::optional<int64_t> &t) {
  return t ? nlohmann::ordered_json(format_time(*t)) : nlohmann::ordered_json(nullptr);
}

}  // namespace

namespace {

// ---- fast path -------------------------------------------------------------
// A record whose known fields each appear once with exactly the expected JSON
// type, and that passes validate_record(), is read straight from the DOM.
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
  if ((seen & kRequired) != kRequired) return false;
  // Canonical hash text: the prefix matched exactly, so lowercasing the 64
  // hex digits in place is format_record_hash(parse_record_hash(hash)).
  std::array<uint8_t, 32> h;
  if (!parse_record_hash(r.hash, h)) return false;
  for (size_t i = r.hash.size() - 64; i < r.hash.size(); ++i)
    if (r.hash[i] >= 'A' && r.hash[i] <= 'F') r.hash[i] = char(r.hash[i] - 'A' + 'a');
  return !validate_record(r);
}

// ---- general path ----------------------------------------------------------

Expected<KeyRecord> decode_parsed(simdjson::dom::element doc, bool fast) {
  using R = Expected<KeyRecord>;
  simdjson::dom::object obj;
  if (doc.get(obj)) {
    RawValue v = to_raw(doc, false);
    return R::failure("key record: expected a JSON object, got " + describe_raw(v));
  }
  if (fast) {
    KeyRecord r;
    if (fast_record(obj, r)) return R::success(std::move(r));
  }
  std::vector<RawField> fields;
  fields.reserve(17);
  for (simdjson::dom::key_value_pair kv : obj)
    if (is_known_field(kv.key)) fields.push_back(RawField{std::string(kv.key), to_raw(kv.value, true), 0});
  FieldsOutcome o = record_from_fields(fields, 0);
  if (!o.record) return R::failure(format_record_error(o.id, o.error));
  return R::success(std::move(*o.record));
}

Expected<KeyRecord> decode(std::string_view text, bool fast) {
  using R = Expected<KeyRecord>;
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

Expected<KeyRecord> decode_record_json(std::string_view text) { return decode(text, true); }

Expected<KeyRecord> decode_record_json_by_fields(std::string_view text) { return decode(text, false); }

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
  for (const std::string *s : {&r.id, &r.hash, &r.workspace, &r.name, &r.role, &r.rotated_from})
    if (!plain_ascii(*s)) return false;
  for (const auto *list : {&r.scopes, &r.regions, &r.allowed_origins, &r.allowed_cidrs})
    for (const auto &s : *list)
      if (!plain_ascii(s)) return false;
  return true;
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

void put_time(std::string &out, const std::optional<int64_t> &t) {
  if (t) put_string(out, format_time(*t));
  else out += "null";
}

void put_direct(std::string &out, const KeyRecord &r) {
  out += "{\"id\":";
  put_string(out, r.id);
  out += ",\"hash\":";
  put_string(out, r.hash);
  out += ",\"workspace\":";
  put_string(out, r.workspace);
  out += ",\"name\":";
  put_string(out, r.name);
  out += ",\"type\":";
  put_string(out, key_type_name(r.type));
  out += ",\"env\":";
  put_string(out, key_env_name(r.env));
  out += ",\"role\":";
  put_string(out, r.role);
  out += ",\"scopes\":";
  put_list(out, r.scopes);
  out += ",\"regions\":";
  put_list(out, r.regions);
  out += ",\"allowed_origins\":";
  put_list(out, r.allowed_origins);
  out += ",\"allowed_cidrs\":";
  put_list(out, r.allowed_cidrs);
  out += ",\"created_at\":";
  put_time(out, r.created_at);
  out += ",\"expires_at\":";
  put_time(out, r.expires_at);
  out += ",\"status\":";
  put_string(out, key_status_name(r.status));
  out += ",\"revoked_at\":";
  put_time(out, r.revoked_at);
  out += ",\"rotated_from\":";
  if (r.rotated_from.empty()) out += "null";
  else put_string(out, r.rotated_from);
  if (r.origin_written_at) {
    out += ",\"origin_written_at\":";
    out += std::to_string(*r.origin_written_at);
  }
  out += '}';
}

}  // namespace

std::string encode_record_json_generic(const KeyRecord &r) {
  nlohmann::ordered_json j;
  j["id"] = r.id;
  j["hash"] = r.hash;
  j["workspace"] = r.workspace;
  j["name"] = r.name;
  j["type"] = key_type_name(r.type);
  j["env"] = key_env_name(r.env);
  j["role"] = r.role;
  j["scopes"] = r.scopes;
  j["regions"] = r.regions;
  j["allowed_origins"] = r.allowed_origins;
  j["allowed_cidrs"] = r.allowed_cidrs;
  j["created_at"] = time_or_null(r.created_at);
  j["expires_at"] = time_or_null(r.expires_at);
  j["status"] = key_status_name(r.status);
  j["revoked_at"] = time_or_null(r.revoked_at);
  j["rotated_from"] =
      r.rotated_from.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(r.rotated_from);
  if (r.origin_written_at) j["origin_written_at"] = *r.origin_written_at;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
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
