// duration.hpp -- the duration syntax of edgekey.yaml and edgekeyctl flags.
//
// A duration is a non-negative decimal integer immediately followed by one
// unit: ms, s, m, h or d ("500ms", "60s", "5m", "24h", "90d"). Nothing else
// is accepted: no sign, no spaces, no bare number, no fractions, no compound
// forms ("1h30m"). Values whose millisecond count overflows int64 are
// rejected. "0s" is valid syntax; callers bound the range they accept.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace edgekey::daemon {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The inverse of parse_duration with the largest unit that divides `d`
// exactly ("90d", "36h", "1500ms"); `d` must be non-negative.
// parse_duration(format_duration(d)) == d.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace edgekey::daemon
