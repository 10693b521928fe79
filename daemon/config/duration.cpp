// duration.cpp -- parse_duration / format_duration (see duration.hpp).
#include "daemon/config/duration.hpp"

#include <charconv>
#include <cstdint>
#include <limits>

namespace edgekey::daemon {

namespace {

struct Unit {
  std::string_view suffix;
  int64_t ms;
};

// Longest suffix first, so "ms" is not read as "m" followed by junk.
constexpr Unit kUnits[] = {
    {"ms", 1}, {"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000},
};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits == text.size()) return std::nullopt;

  const std::string_view suffix = text.substr(digits);
  int64_t unit_ms = 0;
  for (const Unit &u : kUnits)
    if (suffix == u.suffix) {
      unit_ms = u.ms;
      break;
    }
  if (unit_ms == 0) return std::nullopt;

  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, n);
  if (ec != std::errc() || end != text.data() + digits) return std::nullopt;  // overflow
  const uint64_t max = uint64_t(std::numeric_limits<int64_t>::max());
  if (n > max / uint64_t(unit_ms)) return std::nullopt;
  return std::chrono::milliseconds(int64_t(n) * unit_ms);
}

std::string format_duration(std::chrono::milliseconds d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  if (ms < 0) return std::to_string(ms) + "ms";  // outside the contract; keeps the value visible
  for (const Unit &u : {kUnits[1], kUnits[2], kUnits[3], kUnits[4]})
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + std::string(u.suffix);
  return std::to_string(ms) + "ms";
}

}  // namespace edgekey::daemon
