// record_fields.hpp -- the one decoder of key record fields, shared by the
// JSON and YAML codecs (internal to sync/).
//
// A codec turns the record's known fields into RawValues (scalars, and lists
// of scalars one level deep; nothing deeper is ever copied, so hostile
// nesting costs nothing here) and record_from_fields() applies the rules.
#pragma once

#include "sync/record/key_record.hpp"

#include <optional>
#include <string>
#include <string_view>
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
};

// True for the field names a key record has; codecs copy only these.
bool is_known_field(std::string_view name);

// "a list", "null", "\"admin\"", "42" -- the "got …" part of an error.
std::string describe_raw(const RawValue &v);

// The decoder's answer: a valid record, or the first rule broken. `id` is
// the record's id text when it had one (for messages), even when rejected.
struct FieldsOutcome {
  std::optional<KeyRecord> record;
  std::string id;
  FieldError error;  // meaningful only when !record; line 0 -> record_line
};

// Builds a record from `fields` (known names only, document order) and runs
// validate_record(). A field given twice, a missing required field, a value
// of the wrong kind or a broken rule rejects the whole record. Errors of a
// field carry that field's line; others carry record_line. Never throws
// except std::bad_alloc.
FieldsOutcome record_from_fields(const std::vector<RawField> &fields, int record_line);

}  // namespace edgekey::sync
