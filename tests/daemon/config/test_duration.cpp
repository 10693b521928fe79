// parse_duration / format_duration: the syntax of edgekey.yaml and
// edgekeyctl's --grace / --expires.
#include "daemon/config/duration.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace edgekey::daemon {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parse_duration("500ms"), milliseconds(500));
  EXPECT_EQ(parse_duration("60s"), milliseconds(60'000));
  EXPECT_EQ(parse_duration("5m"), milliseconds(300'000));
  EXPECT_EQ(parse_duration("24h"), milliseconds(86'400'000));
  EXPECT_EQ(parse_duration("90d"), milliseconds(int64_t(90) * 86'400'000));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  EXPECT_EQ(parse_duration("007m"), milliseconds(420'000));
}

TEST(Duration, RejectsEverythingElse) {
  for (const char *bad : {"", "10", "5x", "-1s", "+1s", " 1s", "1s ", "1.5h", "1h30m", "s", "ms", "1S",
                          "1 s", "1sec", "1msx", "0x10s", "d"})
    EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
  EXPECT_EQ(parse_duration(std::string_view("1\0s", 3)), std::nullopt);
}

TEST(Duration, RejectsOverflow) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(parse_duration(std::to_string(max) + "ms"), milliseconds(max));
  EXPECT_EQ(parse_duration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parse_duration(std::to_string(max / 86'400'000) + "d"), milliseconds(max / 86'400'000 * 86'400'000));
  EXPECT_EQ(parse_duration(std::to_string(max / 86'400'000 + 1) + "d"), std::nullopt);
  EXPECT_EQ(parse_duration(std::to_string(max / 1000 + 1) + "s"), std::nullopt);
  EXPECT_EQ(parse_duration("99999999999999999999999999s"), std::nullopt);
}

TEST(Duration, FormatsWithTheLargestExactUnit) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(500)), "500ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(milliseconds(60'000)), "1m");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
  EXPECT_EQ(format_duration(milliseconds(int64_t(36) * 3'600'000)), "36h");
  EXPECT_EQ(format_duration(milliseconds(int64_t(90) * 86'400'000)), "90d");
  for (int64_t ms : {int64_t(1), int64_t(999), int64_t(61'000), int64_t(7'200'000), int64_t(172'800'000),
                     std::numeric_limits<int64_t>::max()})
    EXPECT_EQ(parse_duration(format_duration(milliseconds(ms))), milliseconds(ms)) << ms;
}

}  // namespace
}  // namespace edgekey::daemon
