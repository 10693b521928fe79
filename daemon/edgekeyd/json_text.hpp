// json_text.hpp -- appending JSON string literals and RFC 3339 times to a
// response body. Only output: the daemon parses JSON with nlohmann; the hot
// validate answer is formatted here to avoid building a document per call.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::daemon {

// Appends "text" with quotes, escaping ", \ and control characters.
void append_json_string(std::string &out, std::string_view text);
// Appends "2026-11-22T10:00:00Z" (quoted), or null for 0.
void append_json_time(std::string &out, int64_t unix_s);

}  // namespace edgekey::daemon
