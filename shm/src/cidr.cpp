#include "shm/writer/cidr.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace edgekey::shm {
namespace {

constexpr uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

bool parse_ip(std::string_view text, IpAddr &out) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  out = IpAddr{};
  if (inet_pton(AF_INET, buf, out.addr) == 1) {
    out.family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, buf, out.addr) == 1) {
    if (std::memcmp(out.addr, kV4Mapped, 12) == 0) {
      std::memmove(out.addr, out.addr + 12, 4);
      std::memset(out.addr + 4, 0, 12);
      out.family = 4;
    } else {
      out.family = 6;
    }
    return true;
  }
  return false;
}

bool parse_cidr(std::string_view text, Cidr &out) {
  out = Cidr{};
  size_t slash = text.find('/');
  IpAddr ip;
  if (!parse_ip(text.substr(0, slash), ip)) return false;
  unsigned max = ip.family == 4 ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    std::string_view l = text.substr(slash + 1);
    auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
    if (l.empty() || ec != std::errc() || p != l.data() + l.size() || len > max) return false;
  }
  out.family = ip.family;
  out.prefix_len = uint8_t(len);
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bit = i * 8;
    uint8_t mask = bit >= len ? 0 : (len - bit >= 8 ? 0xff : uint8_t(0xff << (8 - (len - bit))));
    out.addr[i] = ip.addr[i] & mask;
  }
  return true;
}

bool cidr_contains(const Cidr &c, const IpAddr &ip) {
  if (c.family != ip.family) return false;
  unsigned len = c.prefix_len;
  for (unsigned i = 0; i < 16 && len > 0; ++i) {
    uint8_t mask = len >= 8 ? 0xff : uint8_t(0xff << (8 - len));
    if ((ip.addr[i] & mask) != c.addr[i]) return false;
    len = len >= 8 ? len - 8 : 0;
  }
  return true;
}

std::string cidr_to_text(const Cidr &c) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(c.family == 4 ? AF_INET : AF_INET6, c.addr, buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(c.prefix_len);
}

}  // namespace edgekey::shm
