// cidr.hpp -- IPv4/IPv6 addresses and CIDR allow-list entries.
//
// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as the IPv4
// address, so a dual-stack proxy's X-Forwarded-For matches IPv4 ranges.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::shm {

struct IpAddr {
  uint8_t family = 0;  // 4 or 6; 0 = none
  uint8_t addr[16] = {};
};

struct Cidr {
  uint8_t family = 0;  // 4 or 6
  uint8_t prefix_len = 0;
  uint8_t addr[16] = {};  // host bits cleared
};

// Parses a literal address; false for anything else (ports, brackets, names).
bool parse_ip(std::string_view text, IpAddr &out);
// Parses "addr/len" or a bare address (a host route); false when invalid.
bool parse_cidr(std::string_view text, Cidr &out);
bool cidr_contains(const Cidr &c, const IpAddr &ip);
std::string cidr_to_text(const Cidr &c);

}  // namespace edgekey::shm
