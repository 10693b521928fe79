// RevokedUseLog (daemon/edgekeyd): a revoked key still in use is a leak
// signal, logged with its key id at most once per key per interval. The
// clock is the caller's, so a minute passes without waiting for one.
#include "daemon/edgekeyd/revoked_use_log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace edgekey::daemon {
namespace {

TEST(RevokedUseLog, OncePerKeyPerMinuteAndEveryUseCounted) {
  RevokedUseLog log;  // the daemon's: 60 s
  const int64_t t0 = 1'800'000'000;
  EXPECT_TRUE(log.record("key_a", "ws_a", t0));
  EXPECT_FALSE(log.record("key_a", "ws_a", t0));
  EXPECT_FALSE(log.record("key_a", "ws_a", t0 + 59));
  EXPECT_TRUE(log.record("key_b", "ws_a", t0 + 1)) << "another key gets its own line";
  EXPECT_TRUE(log.record("key_a", "ws_a", t0 + 60)) << "a minute later it is logged again";
  EXPECT_FALSE(log.record("key_a", "ws_a", t0 + 119));
  EXPECT_FALSE(log.record("key_b", "ws_a", t0 + 60));
  EXPECT_TRUE(log.record("key_b", "ws_a", t0 + 61));
  EXPECT_EQ(log.uses(), 8u) << "every use counts for the metric, logged or not";
}

TEST(RevokedUseLog, ABoundedMemoryForgetsQuietKeysFirstAndNeverSilencesANewOne) {
  RevokedUseLog log(60, 4);
  const int64_t t0 = 1'800'000'000;
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(log.record("key_" + std::to_string(i), "ws", t0));
  EXPECT_TRUE(log.record("key_3", "ws", t0 + 30));
  // Full at t0 + 61: key_0..2 (quiet for an interval) are dropped, key_3 is kept.
  EXPECT_TRUE(log.record("key_new", "ws", t0 + 61));
  EXPECT_FALSE(log.record("key_3", "ws", t0 + 62)) << "a recent key lost its rate limit";
  EXPECT_FALSE(log.record("key_new", "ws", t0 + 62));
  EXPECT_TRUE(log.record("key_x", "ws", t0 + 63));
  EXPECT_TRUE(log.record("key_y", "ws", t0 + 63));
  // Full again, every key recent: a new key is still logged.
  EXPECT_TRUE(log.record("key_z", "ws", t0 + 64));
}

}  // namespace
}  // namespace edgekey::daemon
