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
// otherwise (so the fast path never decides an error). Fields are found and
// read by the field table (field_index, visit_field): one reader per member
// type, so a field added to the table is read here too, and a member of a
// new type stops this file compiling until it has a reader.

using simdjson::dom::element;
using T = simdjson::dom::element_type;

bool fast_text(element v, std::string &out) {
  if (v.type() != T::STRING) return false;
  out = v.get_string().value_unsafe();
  return true;
}

// Text: a string; null too when optional (absent).
bool fast_value(element v, const FieldSpec &s, std::string &out) {
  return (!s.required && v.type() == T::NULL_VALUE) || fast_text(v, out);
}

// A list of strings; null = empty.
bool fast_value(element v, const FieldSpec &, std::vector<std::string> &out) {
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

// Time: RFC 3339 text; Integer: a signed 64-bit number; null = absent.
bool fast_value(element v, const FieldSpec &s, std::optional<int64_t> &out) {
  if (v.type() == T::NULL_VALUE) return true;
  if (s.kind == FieldKind::Integer) {
    if (v.type() != T::INT64) return false;
    out = v.get_int64().value_unsafe();
    return true;
  }
  int64_t t;
  if (v.type() != T::STRING || !parse_time(v.get_string().value_unsafe(), t)) return false;
  out = t;
  return true;
}

// Choice: one of its wire names.
template <class E>
bool fast_value(element v, const FieldSpec &, E &out) {
  return v.type() == T::STRING && parse_choice(v.get_string().value_unsafe(), out);
}

bool fast_record(simdjson::dom::object obj, KeyRecord &r) {
  uint32_t seen = 0;
  for (simdjson::dom::key_value_pair kv : obj) {
    const size_t f = field_index(kv.key);
    if (f == kRecordFieldCount) continue;
    if (seen & (1u << f)) return false;  // given twice
    seen |= 1u << f;
    bool ok = false;
    visit_field(r, f, [&](const FieldSpec &s, auto &m) { ok = fast_value(kv.value, s, m); });
    if (!ok) return false;
  }
  return (seen & kRequiredFields) == kRequiredFields;
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
    if (auto err = parser.parse(text.data(), text.size(), true).get(doc)) {
      if (err == simdjson::MEMALLOC) throw std::bad_alloc();
      return R::failure(std::string("key record: not JSON: ") + simdjson::error_message(err));
    }
    return decode_parsed(doc, fast);
  } catch (const std::bad_alloc &) {
    throw;  // see the header
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
