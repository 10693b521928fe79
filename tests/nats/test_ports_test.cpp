// ReservedPort (tests/support/test_ports.hpp): the ports test servers listen
// on are outside the kernel's ephemeral range and held against every other
// ReservedPort until released.
#include "test_ports.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <vector>

using edgekey::test::ReservedPort;

TEST(ReservedPort, IsOutsideTheEphemeralRangeAndHeldUntilReleased) {
  int eph_lo = 0, eph_hi = 0;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> eph_lo >> eph_hi;
  ASSERT_GT(eph_lo, 0);
  std::vector<ReservedPort> held(50);
  std::set<int> ports;
  for (const auto &p : held) {
    EXPECT_TRUE(p.port() < eph_lo || p.port() > eph_hi) << p.port() << " is in " << eph_lo << "-" << eph_hi;
    EXPECT_GE(p.port(), 1024);
    ports.insert(p.port());
  }
  EXPECT_EQ(ports.size(), held.size()) << "a port was handed out twice while held";

  // Released, a port can be handed out again; held ones still cannot. (With
  // no hold, 2000 picks from ~12k ports would hit one of the 49 held ~8 times.)
  const int first = held.front().port();
  held.erase(held.begin());
  for (int i = 0; i < 2000; ++i) {
    ReservedPort again;
    EXPECT_TRUE(again.port() == first || !ports.count(again.port())) << again.port() << " is still held";
  }
}
