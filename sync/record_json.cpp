// record_json.cpp -- JSON codec of key records (see record_json.hpp).
#include "sync/record_json.hpp"

#include "sync/record_fields.hpp"

#include <nlohmann/json.hpp>

namespace edgekey::sync {
namespace {

// Scalars keep their spelling; a list keeps one level of items.
RawValue to_raw(const nlohmann::json &v, bool with_items) {
  RawValue r;
  using K = RawValue::Kind;
  switch (v.type()) {
    case nlohmann::json::value_t::null: r.kind = K::Null; break;
    case nlohmann::json::value_t::string:
      r.kind = K::String;
      r.text = v.get_ref<const std::string &>();
      break;
    case nlohmann::json::value_t::boolean:
      r.kind = K::Bool;
      r.text = v.get<bool>() ? "true" : "false";
      break;
    case nlohmann::json::value_t::number_integer:
      r.kind = K::Number;
      r.text = std::to_string(v.get<int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      r.kind = K::Number;
      r.text = std::to_string(v.get<uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      r.kind = K::Number;
      r.text = v.dump();
      break;
    case nlohmann::json::value_t::array:
      r.kind = K::List;
      if (with_items) {
        r.items.reserve(v.size());
        for (const auto &item : v) r.items.push_back(to_raw(item, false));
      }
      break;
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
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error &e) {
      return R::failure("key record: not JSON: " + without_controls(e.what()));
    }
    if (!doc.is_object()) {
      RawValue v = to_raw(doc, false);
      return R::failure("key record: expected a JSON object, got " + describe_raw(v));
    }
    std::vector<RawField> fields;
    for (const auto &[name, value] : doc.items())
      if (is_known_field(name)) fields.push_back(RawField{name, to_raw(value, true), 0});
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
