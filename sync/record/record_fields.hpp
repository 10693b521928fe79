// record_fields.hpp -- the key record's field table and the one decoder of
// its fields, shared by the JSON and YAML codecs and edgekeyctl's output.
//
// A codec turns the record's known fields into RawValues (scalars, and lists
// of scalars one level deep; nothing deeper is ever copied, so hostile
// nesting costs nothing here) and record_from_fields() applies the rules.
#pragma once

#include "sync/record/key_record.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::sync {

// A field value, whatever the syntax it came from.
struct RawValue {
  enum class Kind : uint8_t {
    Null,
    String,  // JSON string, quoted or explicitly tagged YAML scalar
    Plain,   // untyped YAML plain scalar: a string, or a number where one is expected
    Number,  // JSON number; text = its spelling
    Bool,    // JSON true/false; text = its spelling
    List,    // items hold its elements (their own items are never filled)
    Map,
  };
  Kind kind = Kind::Null;
  std::string text;
  std::vector<RawValue> items;
};

// A known field of one record; line is 1-based in its file, 0 = unknown.
struct RawField {
  std::string name;
  RawValue value;
  int line = 0;
  size_t index = SIZE_MAX;  // field_index(name) when the codec looked it up already, else SIZE_MAX
};

// ---- the field table ---------------------------------------------------------
// Every field of KeyRecord once, in wire order (key_record.hpp's): its name,
// how it is read (kind, required) and how an absent value is written by
// each codec. The decoder (record_from_fields), its fast paths (the JSON
// fast decoder, keyset_scan's simple_record), the JSON encoders, the YAML
// writer and what edgekeyd and edgekeyctl print all walk this table;
// test_record_fields fails when KeyRecord has a member the table lacks.

enum class FieldKind : uint8_t {
  Text,     // std::string; optional text is "" when absent
  Choice,   // KeyType / KeyEnv / KeyStatus: one of its wire names
  List,     // std::vector<std::string>; absent or null = empty
  Time,     // std::optional<int64_t> unix s, RFC 3339 text
  Integer,  // std::optional<int64_t>, a number
};
// How a codec writes an absent (empty / nullopt) value of an optional field.
enum class Absent : uint8_t { Written, Null, Omitted };  // Written: "" or []

struct FieldSpec {
  std::string_view name;
  FieldKind kind;
  bool required;  // a record without it is rejected
  Absent json;
  Absent yaml;
};

// The table itself: X(member, kind, required, json absent, yaml absent),
// one row per field of KeyRecord, in wire order. The member's name is its
// wire name.
#define EDGEKEY_KEY_RECORD_FIELDS(X) \
  X(id, Text, true, Written, Written) \
  X(hash, Text, true, Written, Written) \
  X(workspace, Text, true, Written, Written) \
  X(name, Text, false, Written, Omitted) \
  X(type, Choice, true, Written, Written) \
  X(env, Choice, true, Written, Written) \
  X(role, Text, true, Written, Written) \
  X(scopes, List, false, Written, Written) \
  X(regions, List, false, Written, Written) \
  X(allowed_origins, List, false, Written, Written) \
  X(allowed_cidrs, List, false, Written, Written) \
  X(created_at, Time, false, Null, Omitted) \
  X(expires_at, Time, false, Null, Null) \
  X(status, Choice, true, Written, Written) \
  X(revoked_at, Time, false, Null, Omitted) \
  X(rotated_from, Text, false, Null, Omitted) \
  X(origin_written_at, Integer, false, Omitted, Omitted)

#define EDGEKEY_FIELD_SPEC(m, kind, req, json, yaml) \
  FieldSpec{#m, FieldKind::kind, req, Absent::json, Absent::yaml},
// The table's rows as data (constant-evaluable without a KeyRecord).
inline constexpr FieldSpec kFieldSpecs[] = {EDGEKEY_KEY_RECORD_FIELDS(EDGEKEY_FIELD_SPEC)};
#undef EDGEKEY_FIELD_SPEC
inline constexpr size_t kRecordFieldCount = std::size(kFieldSpecs);

// Calls f(spec, member) for each field of `r` (KeyRecord or const KeyRecord), in order.
template <class Rec, class F>
constexpr void for_each_field(Rec &r, F &&f) {
  size_t i = 0;
#define EDGEKEY_FIELD_CALL(m, kind, req, json, yaml) f(kFieldSpecs[i++], r.m);
  EDGEKEY_KEY_RECORD_FIELDS(EDGEKEY_FIELD_CALL)
#undef EDGEKEY_FIELD_CALL
}

namespace field_detail {

static_assert(kRecordFieldCount < 32, "codecs keep a bit per field");

// A name of length L (name.size() == L): one comparison per table name of
// that length, of L bytes known at compile time.
template <size_t L, size_t... I>
size_t index_of_length(std::string_view name, std::index_sequence<I...>) {
  size_t found = kRecordFieldCount;
  (void)((kFieldSpecs[I].name.size() == L && std::memcmp(name.data(), kFieldSpecs[I].name.data(), L) == 0
              ? (found = I, true)
              : false) ||
          ...);
  return found;
}
// The distinct lengths of the table's names.
struct Lengths {
  std::array<size_t, kRecordFieldCount> len{};
  size_t count = 0;
};
constexpr Lengths make_lengths() {
  Lengths x;
  for (const FieldSpec &s : kFieldSpecs) {
    const std::string_view n = s.name;
    bool seen = false;
    for (size_t j = 0; j < x.count; ++j) seen = seen || x.len[j] == n.size();
    if (!seen) x.len[x.count++] = n.size();
  }
  return x;
}
inline constexpr Lengths kLengths = make_lengths();
// The name's length against each distinct length, then index_of_length:
// what a hand-written switch on the length would do (measured as fast as
// the hand-written lookups it replaced).
template <size_t... J>
size_t index_by_length(std::string_view name, std::index_sequence<J...>) {
  size_t found = kRecordFieldCount;
  (void)((name.size() == kLengths.len[J]
              ? (found = index_of_length<kLengths.len[J]>(name, std::make_index_sequence<kRecordFieldCount>()), true)
              : false) ||
          ...);
  return found;
}

}  // namespace field_detail

// The field table's position of `name` (for_each_field's order), or
// kRecordFieldCount when a record has no such field: what the codecs'
// per-field paths use.
inline size_t field_index(std::string_view name) {
  return field_detail::index_by_length(name, std::make_index_sequence<field_detail::kLengths.count>());
}

// Calls f(spec, member) for the field at table position `index` only.
template <class Rec, class F>
void visit_field(Rec &r, size_t index, F &&f) {
  size_t i = 0;
  for_each_field(r, [&](const FieldSpec &s, auto &m) {
    if (i++ == index) f(s, m);
  });
}

// The positions of the required fields, one bit each (bit i = position i).
inline constexpr uint32_t kRequiredFields = [] {
  uint32_t bits = 0;
  for (size_t i = 0; i < kRecordFieldCount; ++i)
    if (kFieldSpecs[i].required) bits |= 1u << i;
  return bits;
}();

// The wire names and parsers of the Choice fields, by type.
inline const char *choice_name(KeyType t) { return key_type_name(t); }
inline const char *choice_name(KeyEnv e) { return key_env_name(e); }
inline const char *choice_name(KeyStatus s) { return key_status_name(s); }
inline bool parse_choice(std::string_view text, KeyType &out) { return parse_key_type(text, out); }
inline bool parse_choice(std::string_view text, KeyEnv &out) { return parse_key_env(text, out); }
inline bool parse_choice(std::string_view text, KeyStatus &out) { return parse_key_status(text, out); }
inline const char *choice_expected(KeyType) { return "\"secret\" or \"publishable\""; }
inline const char *choice_expected(KeyEnv) { return "\"live\" or \"test\""; }
inline const char *choice_expected(KeyStatus) { return "\"active\" or \"revoked\""; }

// Whether `v` (a member for_each_field hands over) is absent: "" / [] / nullopt.
template <class T>
bool field_absent(const T &v) {
  if constexpr (requires { v.empty(); }) return v.empty();
  else if constexpr (requires { v.has_value(); }) return !v.has_value();
  else return false;  // a Choice: always present
}

// True for the field names a key record has; codecs copy only these.
bool is_known_field(std::string_view name);

// "a list", "null", "\"admin\"", "42" -- the "got …" part of an error.
std::string describe_raw(const RawValue &v);

// The decoder's answer: a valid record, or the first rule broken. `id` is
// the record's id text when it had one (for messages), even when rejected.
struct FieldsOutcome {
  std::optional<ValidRecord> record;
  std::string id;
  FieldError error;  // meaningful only when !record; line 0 -> record_line
};

// Builds a record from `fields` (known names only, document order) and
// validates it (ValidRecord::check: the hash text comes back canonical). A field given twice, a missing required field, a value
// of the wrong kind or a broken rule rejects the whole record. Errors of a
// field carry that field's line; others carry record_line. Never throws
// except std::bad_alloc.
FieldsOutcome record_from_fields(const std::vector<RawField> &fields, int record_line);

}  // namespace edgekey::sync
