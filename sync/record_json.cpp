// record_json.cpp -- JSON codec of key records (see record_json.hpp).
#include "sync/record_json.hpp"

#include "sync/record_fields.hpp"

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include <charconv>

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

Result<KeyRecord> decode_record_json(std::string_view text) {
  using R = Result<KeyRecord>;
  try {
    // One parser per thread, reused: its buffers are sized to the largest
    // record seen, so a snapshot decodes without a parser allocation per
    // record. The DOM parse validates the whole text (UTF-8 included) and
    // bounds nesting depth.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (auto err = parser.parse(text.data(), text.size(), true).get(doc))
      return R::failure(std::string("key record: not JSON: ") + simdjson::error_message(err));
    simdjson::dom::object obj;
    if (doc.get(obj)) {
      RawValue v = to_raw(doc, false);
      return R::failure("key record: expected a JSON object, got " + describe_raw(v));
    }
    std::vector<RawField> fields;
    fields.reserve(17);
    for (simdjson::dom::key_value_pair kv : obj)
      if (is_known_field(kv.key)) fields.push_back(RawField{std::string(kv.key), to_raw(kv.value, true), 0});
    FieldsOutcome o = record_from_fields(fields, 0);
    if (!o.record) return R::failure(format_record_error(o.id, o.error));
    return R::success(std::move(*o.record));
  } catch (const std::exception &e) {
    return R::failure(std::string("key record: cannot decode: ") + without_controls(e.what()));
  } catch (...) {
    return R::failure("key record: cannot decode");
  }
}

std::string encode_record_json(const KeyRecord &r) {
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

}  // namespace edgekey::sync
