// key_record.cpp -- key record rules and text forms (see key_record.hpp).
#include "sync/record/key_record.hpp"

#include "shm/writer/cidr.hpp"
#include "shm/writer/table_record.hpp"

#include <array>
#include <charconv>
#include <cstdio>

namespace edgekey::sync {
namespace {

// True when `s` is not well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, <= U+10FFFF) or holds a control character (C0 or DEL).
bool bad_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;  // bounds of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) n = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return true;
    if (i + n >= s.size()) return true;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      unsigned char t = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (t < lo || t > hi) : (t < 0x80 || t > 0xbf)) return true;
    }
    i += n + 1;
  }
  return false;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t &y, unsigned &m, unsigned &d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[pos]; false if any is not a digit.
bool digits(std::string_view s, size_t pos, size_t n, unsigned &out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!is_digit(s[i])) return false;
    out = out * 10 + unsigned(s[i] - '0');
  }
  return true;
}

std::optional<FieldError> check_id_like(const char *field, const std::string &v) {
  if (v.empty() || v.size() > kMaxIdLen || bad_text(v))
    return FieldError{field, "expected 1 to 47 bytes of UTF-8 text without control characters, got " +
                                 quote_for_error(v) + " (" + std::to_string(v.size()) + " bytes)"};
  return std::nullopt;
}

std::optional<FieldError> check_names(const char *field, const std::vector<std::string> &v,
                                      const char *what) {
  for (const auto &s : v)
    if (s.empty() || bad_text(s))
      return FieldError{field, std::string("expected a list of ") + what + ", got " +
                                   quote_for_error(s) + " in it"};
  return std::nullopt;
}

std::optional<FieldError> check_time(const char *field, const std::optional<int64_t> &t,
                                     int64_t min) {
  if (t && (*t < min || *t > kMaxUnixTime))
    return FieldError{field, "expected a time between " + format_time(min) + " and " +
                                 format_time(kMaxUnixTime) + ", got unix time " +
                                 std::to_string(*t)};
  return std::nullopt;
}

}  // namespace

const char *key_type_name(KeyType t) {
  return t == KeyType::Publishable ? "publishable" : t == KeyType::Secret ? "secret" : "";
}
const char *key_env_name(KeyEnv e) {
  return e == KeyEnv::Test ? "test" : e == KeyEnv::Live ? "live" : "";
}
const char *key_status_name(KeyStatus s) {
  return s == KeyStatus::Revoked ? "revoked" : s == KeyStatus::Active ? "active" : "";
}

bool parse_key_type(std::string_view text, KeyType &out) {
  if (text == "secret") return out = KeyType::Secret, true;
  if (text == "publishable") return out = KeyType::Publishable, true;
  return false;
}
bool parse_key_env(std::string_view text, KeyEnv &out) {
  if (text == "live") return out = KeyEnv::Live, true;
  if (text == "test") return out = KeyEnv::Test, true;
  return false;
}
bool parse_key_status(std::string_view text, KeyStatus &out) {
  if (text == "active") return out = KeyStatus::Active, true;
  if (text == "revoked") return out = KeyStatus::Revoked, true;
  return false;
}

std::string quote_for_error(std::string_view text) {
  constexpr size_t kMax = 64;
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c < 0x20 || c == 0x7f) ? '?' : char(c);
  }
  if (text.size() > kMax) out += "...";
  return out + "\"";
}

std::string format_record_error(std::string_view id, const FieldError &e) {
  std::string who = "key record";
  if (!id.empty()) {
    std::string q = quote_for_error(id);
    who = "key " + q.substr(1, q.size() - 2);
  }
  return who + ": field \"" + e.field + "\": " + e.what;
}

namespace {

// Hex digit -> value, 0xff for anything else (a branch per digit mispredicts
// on random hashes; a snapshot parses a million of them).
constexpr std::array<uint8_t, 256> kHexValue = [] {
  std::array<uint8_t, 256> t{};
  for (auto &v : t) v = 0xff;
  for (int c = '0'; c <= '9'; ++c) t[size_t(c)] = uint8_t(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[size_t(c)] = uint8_t(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[size_t(c)] = uint8_t(c - 'A' + 10);
  return t;
}();

}  // namespace

namespace {
thread_local RecordWork t_work;
}  // namespace

RecordWork record_work() { return t_work; }

bool parse_record_hash(std::string_view text, std::array<uint8_t, 32> &out, HashScheme *scheme) {
  ++t_work.hash_parses;
  HashScheme s;
  if (text.substr(0, 7) == "sha256:") {
    s = HashScheme::Sha256;
    text.remove_prefix(7);
  } else if (text.substr(0, 12) == "hmac-sha256:") {
    s = HashScheme::HmacSha256;
    text.remove_prefix(12);
  } else {
    return false;
  }
  if (text.size() != 64) return false;
  uint8_t bad = 0;
  for (size_t i = 0; i < 32; ++i) {
    const uint8_t hi = kHexValue[uint8_t(text[2 * i])], lo = kHexValue[uint8_t(text[2 * i + 1])];
    bad |= hi | lo;
    out[i] = uint8_t(hi << 4 | (lo & 0x0f));
  }
  if (bad & 0xf0) return false;
  if (scheme) *scheme = s;
  return true;
}

std::string format_record_hash(const std::array<uint8_t, 32> &hash, HashScheme scheme) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = scheme == HashScheme::HmacSha256 ? "hmac-sha256:" : "sha256:";
  for (uint8_t b : hash) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool parse_time(std::string_view s, int64_t &out) {
  unsigned y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, sec))
    return false;
  size_t pos = 19;
  if (s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos == start) return false;
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    unsigned oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return false;
    offset = (s[pos] == '+' ? 1 : -1) * int64_t(oh * 3600 + om * 60);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) return false;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
    return false;
  int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
  if (t < 0 || t > kMaxUnixTime) return false;
  out = t;
  return true;
}

std::string format_time(int64_t t) {
  if (t < 0) t = 0;
  if (t > kMaxUnixTime) t = kMaxUnixTime;
  int64_t y;
  unsigned m, d;
  civil_from_days(t / 86400, y, m, d);
  int64_t sod = t % 86400;
  char buf[32];
  snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y),
           m, d, static_cast<long long>(sod / 3600), static_cast<long long>(sod / 60 % 60),
           static_cast<long long>(sod % 60));
  return buf;
}

bool check_origin(std::string_view o, std::string *why) {
  auto fail = [&](const char *reason) {
    if (why) *why = reason;
    return false;
  };
  if (o.size() > shm::kMaxOriginLen) return fail("longer than 1024 bytes");
  size_t sep = o.find("://");
  if (sep == std::string_view::npos || sep == 0 || !is_alpha(o[0]))
    return fail("no scheme (scheme://host[:port])");
  for (char c : o.substr(0, sep))
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '.' && c != '-')
      return fail("bad character in the scheme");
  std::string_view rest = o.substr(sep + 3);
  if (rest.find_first_of("/?#") != std::string_view::npos)
    return fail("has a path, query or fragment (an Origin is scheme://host[:port] only)");
  if (rest.find('@') != std::string_view::npos) return fail("has user info");
  std::string_view host, port;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return fail("unterminated IPv6 literal");
    shm::IpAddr ip;
    if (!shm::parse_ip(rest.substr(1, close - 1), ip) || ip.family != 6)
      return fail("bad IPv6 literal");
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail("junk after the IPv6 literal");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
  } else {
    size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return fail("empty port");
    }
    if (host.empty()) return fail("no host");
    for (char c : host)
      if (!is_alpha(c) && !is_digit(c) && c != '.' && c != '-' && c != '_')
        return fail("bad character in the host (use the ASCII/punycode name)");
  }
  if (!port.empty()) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || port.size() > 5 || p == 0 ||
        p > 65535 || !is_digit(port[0]))
      return fail("port must be 1..65535");
  }
  return true;
}

namespace {

// validate_record's rules; the hash's bytes and scheme land in h and scheme.
std::optional<FieldError> check_rules(const KeyRecord &r, std::array<uint8_t, 32> &h, HashScheme &scheme) {
  ++t_work.validations;
  if (auto e = check_id_like("id", r.id)) return e;
  if (!parse_record_hash(r.hash, h, &scheme))
    return FieldError{"hash", "expected \"sha256:\" or \"hmac-sha256:\" and 64 hex digits, got " +
                                  quote_for_error(r.hash)};
  if (auto e = check_id_like("workspace", r.workspace)) return e;
  if (bad_text(r.name))
    return FieldError{"name", "expected UTF-8 text without control characters, got " +
                                  quote_for_error(r.name)};
  if (r.type != KeyType::Secret && r.type != KeyType::Publishable)
    return FieldError{"type", "expected \"secret\" or \"publishable\""};
  if (r.env != KeyEnv::Live && r.env != KeyEnv::Test)
    return FieldError{"env", "expected \"live\" or \"test\""};
  if (r.role.empty() || r.role.size() > kMaxRoleLen || bad_text(r.role))
    return FieldError{"role", "expected a role name of 1 to 31 bytes, got " +
                                  quote_for_error(r.role)};
  if (auto e = check_names("scopes", r.scopes, "permission names")) return e;
  if (auto e = check_names("regions", r.regions, "region names")) return e;
  if (r.allowed_origins.size() > shm::kMaxAllowEntries)
    return FieldError{"allowed_origins", "expected at most 256 origins, got " +
                                             std::to_string(r.allowed_origins.size())};
  for (const auto &o : r.allowed_origins) {
    std::string why;
    if (!check_origin(o, &why))
      return FieldError{"allowed_origins",
                        "expected origins like https://app.example.com[:port], got " +
                            quote_for_error(o) + ": " + why};
  }
  if (r.type == KeyType::Publishable && r.allowed_origins.empty())
    return FieldError{"allowed_origins",
                      "expected at least one origin for a publishable key, got none"};
  if (r.allowed_cidrs.size() > shm::kMaxAllowEntries)
    return FieldError{"allowed_cidrs", "expected at most 256 CIDRs, got " +
                                           std::to_string(r.allowed_cidrs.size())};
  for (const auto &c : r.allowed_cidrs) {
    shm::Cidr parsed;
    if (!shm::parse_cidr(c, parsed))
      return FieldError{"allowed_cidrs",
                        "expected IPv4 or IPv6 CIDRs like 203.0.113.0/24 or 2001:db8::/32, got " +
                            quote_for_error(c)};
  }
  if (auto e = check_time("created_at", r.created_at, 0)) return e;
  if (auto e = check_time("expires_at", r.expires_at, 1)) return e;
  if (r.status != KeyStatus::Active && r.status != KeyStatus::Revoked)
    return FieldError{"status", "expected \"active\" or \"revoked\""};
  if (auto e = check_time("revoked_at", r.revoked_at, 0)) return e;
  if (!r.rotated_from.empty()) {
    if (auto e = check_id_like("rotated_from", r.rotated_from)) return e;
  }
  if (r.origin_written_at && *r.origin_written_at < 0)
    return FieldError{"origin_written_at", "expected unix milliseconds >= 0, got " +
                                               std::to_string(*r.origin_written_at)};
  return std::nullopt;
}

}  // namespace

std::optional<FieldError> validate_record(const KeyRecord &r) {
  std::array<uint8_t, 32> h;
  HashScheme scheme;
  return check_rules(r, h, scheme);
}

std::optional<FieldError> ValidRecord::adopt(KeyRecord &r) {
  if (auto e = check_rules(r, hash_, scheme_)) return e;
  // Canonical text: the prefix matched exactly, so lowercasing the 64 hex
  // digits in place is format_record_hash(hash_, scheme_).
  for (size_t i = r.hash.size() - 64; i < r.hash.size(); ++i)
    if (r.hash[i] >= 'A' && r.hash[i] <= 'F') r.hash[i] = char(r.hash[i] - 'A' + 'a');
  r_ = std::move(r);
  return std::nullopt;
}

std::optional<ValidRecord> ValidRecord::check(KeyRecord &&r, FieldError &why) {
  ValidRecord v;
  if (auto e = v.adopt(r)) {
    why = std::move(*e);
    return std::nullopt;
  }
  return v;
}

Expected<ValidRecord> validate(KeyRecord &&r) {
  ValidRecord v;
  if (auto e = v.adopt(r)) return Expected<ValidRecord>::failure(format_record_error(r.id, *e));
  return Expected<ValidRecord>::success(std::move(v));
}

}  // namespace edgekey::sync
