#include "shm/writer/cidr.hpp"

#include <gtest/gtest.h>

using namespace edgekey::shm;

static bool in(const char *cidr, const char *ip) {
  Cidr c;
  IpAddr a;
  EXPECT_TRUE(parse_cidr(cidr, c)) << cidr;
  EXPECT_TRUE(parse_ip(ip, a)) << ip;
  return cidr_contains(c, a);
}

// Whether each address is in each range: IPv4, IPv6, and IPv4 mapped into IPv6.
struct Containment {
  const char *cidr, *ip;
  bool in;
};
const Containment kContainment[] = {
    {"203.0.113.0/24", "203.0.113.7", true},
    {"203.0.113.0/24", "203.0.114.7", false},
    {"10.0.0.0/8", "10.255.1.2", true},
    {"0.0.0.0/0", "8.8.8.8", true},
    {"192.0.2.5", "192.0.2.5", true},
    {"192.0.2.5", "192.0.2.6", false},
    {"198.51.100.0/23", "198.51.101.255", true},
    {"198.51.100.0/23", "198.51.102.0", false},
    {"2001:db8::/32", "2001:db8:1::5", true},
    {"2001:db8::/32", "2001:db9::1", false},
    {"2001:db8:abcd:12::/63", "2001:db8:abcd:13::1", true},
    {"2001:db8:abcd:12::/63", "2001:db8:abcd:14::1", false},
    {"203.0.113.0/24", "::ffff:203.0.113.9", true},
    {"2001:db8::/32", "203.0.113.9", false},
    {"203.0.113.0/24", "2001:db8::1", false},
};

TEST(Cidr, Ipv4AndIpv6RangesAndMappedIpv4) {
  for (const Containment &c : kContainment) EXPECT_EQ(in(c.cidr, c.ip), c.in) << c.ip << " in " << c.cidr;
}

TEST(Cidr, HostBitsAreCleared) {
  Cidr c;
  ASSERT_TRUE(parse_cidr("203.0.113.77/24", c));
  EXPECT_EQ(cidr_to_text(c), "203.0.113.0/24");
  ASSERT_TRUE(parse_cidr("2001:db8::ffff/32", c));
  EXPECT_EQ(cidr_to_text(c), "2001:db8::/32");
}

TEST(Cidr, RejectsGarbage) {
  Cidr c;
  IpAddr a;
  for (const char *bad : {"", "/24", "203.0.113.0/33", "2001:db8::/129", "203.0.113.0/", "203.0.113.0/x",
                          "example.com/24", "203.0.113/24", "203.0.113.0/24/1", "1.2.3.4/-1"})
    EXPECT_FALSE(parse_cidr(bad, c)) << bad;
  for (const char *bad : {"", "1.2.3.4:80", "[::1]", "localhost", "1.2.3.4.5", "::g"})
    EXPECT_FALSE(parse_ip(bad, a)) << bad;
}
