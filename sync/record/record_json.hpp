// record_json.hpp -- a key record as one JSON object (the NATS bucket's
// values, edgekeyctl --json).
#pragma once

#include "sync/record/expected.hpp"
#include "sync/record/key_record.hpp"

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>

namespace edgekey::sync {

// Parses and validates one record. Unknown fields are ignored; a record that
// is not JSON, not an object, or breaks any rule of validate_record() is
// rejected whole with one line such as
//   key key_2hT9: field "type": expected "secret" or "publishable", got "admin"
// Throws nothing for any input (invalid UTF-8 and deep nesting included),
// only std::bad_alloc when memory runs out: that is not a bad record, and
// the caller tries again rather than skip it.
// The hash text comes back canonical (lowercase hex).
Expected<ValidRecord> decode_record_json(std::string_view text);

// The same decoder without its fast path (a record read straight from the
// DOM when every field has the expected type): every record goes through the
// field-by-field rules. The answer is identical; tests compare the two.
Expected<ValidRecord> decode_record_json_by_fields(std::string_view text);

// Every field, in the field table's order (record_fields.hpp), as compact
// JSON. expires_at, created_at, revoked_at and rotated_from are null when
// absent; origin_written_at is left out when absent (the table's json column). decode_record_json(encode_record_json(r)) == r for any
// valid r. Invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string encode_record_json(const KeyRecord &r);
// The same, appended to `out` (a snapshot writes a million of them).
void append_record_json(std::string &out, const KeyRecord &r);
// The same through nlohmann::json for every record (encode_record_json
// writes printable-ASCII records directly); tests compare the two.
std::string encode_record_json_generic(const KeyRecord &r);
// The same fields as a JSON document, for output that adds to it or leaves
// fields out (edgekeyd's GET /v1/keys/{id}, edgekeyctl --json).
nlohmann::ordered_json record_json_value(const KeyRecord &r);

}  // namespace edgekey::sync
