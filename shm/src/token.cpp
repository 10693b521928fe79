#include "shm/src/token.hpp"

#include "shm/src/crc32.hpp"

#include <edgekey/edgekey.h>
#include <openssl/rand.h>

#include <array>
#include <cstring>
#include <stdexcept>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace edgekey::shm {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Base62 digit value of a byte, or kNotBase62 (a single OR over a token's
// digits then tells whether any byte was outside the alphabet).
constexpr uint8_t kNotBase62 = 0x80;
constexpr std::array<uint8_t, 256> make_digits() {
  std::array<uint8_t, 256> d{};
  for (auto &x : d) x = kNotBase62;
  for (uint8_t i = 0; i < 62; ++i) d[uint8_t(kBase62[i])] = i;
  return d;
}
constexpr std::array<uint8_t, 256> kDigit = make_digits();

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_visible(char c) { return c > 0x20 && c < 0x7f; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// True when all 32 body bytes are base62 (SSE2: three range checks on two
// 16-byte lanes; elsewhere a table walk).
bool body_is_base62(const char *p) {
#if defined(__SSE2__)
  auto in_range = [](__m128i x, char lo, char span) {
    __m128i y = _mm_sub_epi8(x, _mm_set1_epi8(lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(y, _mm_set1_epi8(span)), y);
  };
  int ok = 0xffff;
  for (int half = 0; half < 2; ++half) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * half));
    __m128i m = _mm_or_si128(_mm_or_si128(in_range(x, '0', 9), in_range(x, 'A', 25)), in_range(x, 'a', 25));
    ok &= _mm_movemask_epi8(m);
  }
  return ok == 0xffff;
#else
  uint8_t bad = 0;
  for (size_t i = 0; i < kBodyLen; ++i) bad |= kDigit[uint8_t(p[i])];
  return !(bad & kNotBase62);
#endif
}

bool iequals_bearer(std::string_view s) {
  static constexpr char kB[] = "bearer";
  if (s.size() != 6) return false;
  for (size_t i = 0; i < 6; ++i)
    if ((s[i] | 0x20) != kB[i]) return false;
  return true;
}

// Our format after "{prefix}_": "sk_live_" + body + check, strictly.
ParsedToken classify_prefixed(std::string_view token, size_t prefix_len) {
  ParsedToken p;
  p.kind = TokenKind::Malformed;
  std::string_view rest = token.substr(prefix_len + 1);
  if (rest.size() < 3 || rest[2] != '_') return p;
  if (rest[0] == 's' && rest[1] == 'k') p.type = EK_TYPE_SECRET;
  else if (rest[0] == 'p' && rest[1] == 'k') p.type = EK_TYPE_PUBLISHABLE;
  else return p;
  rest.remove_prefix(3);
  if (rest.size() != 4 + 1 + kBodyLen + kCheckLen || rest[4] != '_') return p;
  if (std::memcmp(rest.data(), "live", 4) == 0) p.env = EK_ENV_LIVE;
  else if (std::memcmp(rest.data(), "test", 4) == 0) p.env = EK_ENV_TEST;
  else return p;
  rest.remove_prefix(5);
  if (!body_is_base62(rest.data())) return p;
  uint8_t bad = 0;
  uint64_t check = 0;
  for (size_t i = kBodyLen; i < kBodyLen + kCheckLen; ++i) {
    const uint8_t d = kDigit[uint8_t(rest[i])];
    bad |= d;
    check = check * 62 + d;
  }
  if (bad & kNotBase62) return p;
  if (check != crc32_ieee(token.data(), token.size() - kCheckLen)) return p;
  p.kind = TokenKind::Prefixed;
  p.token = token;
  return p;
}

}  // namespace

void token_check(std::string_view text, char out[kCheckLen]) {
  uint64_t crc = crc32_ieee(text.data(), text.size());
  for (size_t i = kCheckLen; i-- > 0;) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
}

bool valid_prefix(std::string_view prefix) {
  if (prefix.size() < 2 || prefix.size() > 16) return false;
  if (prefix[0] < 'a' || prefix[0] > 'z') return false;
  for (char c : prefix)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

ParsedToken parse_authorization(std::string_view auth, std::string_view prefix,
                                bool legacy_allowed) {
  ParsedToken p;
  auth = trim(auth);
  if (auth.empty()) return p;  // Missing
  std::string_view token = auth;
  if (auth.size() > 6 && is_ows(auth[6]) && iequals_bearer(auth.substr(0, 6))) {
    token = trim(auth.substr(6));
  } else if (iequals_bearer(auth)) {
    return p;  // "Bearer" and nothing else: Missing
  }
  // One word must be left. Inner whitespace (another scheme such as
  // "Basic x", or extra words) fails below: our format admits only base62
  // after its fixed parts, a legacy token only visible characters.
  p.kind = TokenKind::Malformed;
  if (token.size() > prefix.size() && token[prefix.size()] == '_' &&
      token.compare(0, prefix.size(), prefix) == 0)
    return classify_prefixed(token, prefix.size());
  if (!legacy_allowed || token.size() > kMaxTokenLen) return p;
  for (char c : token)
    if (!is_visible(c)) return p;
  p.kind = TokenKind::Legacy;
  p.token = token;
  return p;
}

std::string generate_token(std::string_view prefix, std::string_view type, std::string_view env) {
  if (!valid_prefix(prefix))
    throw std::runtime_error("key prefix '" + std::string(prefix) +
                             "' is invalid: expected [a-z][a-z0-9]{1,15}");
  if (type != "sk" && type != "pk")
    throw std::runtime_error("key type must be sk or pk, got '" + std::string(type) + "'");
  if (env != "live" && env != "test")
    throw std::runtime_error("key env must be live or test, got '" + std::string(env) + "'");
  std::string t;
  t.reserve(prefix.size() + 1 + 3 + 5 + kBodyLen + kCheckLen);
  t.append(prefix).append("_").append(type).append("_").append(env).append("_");
  unsigned char buf[64];
  size_t have = 0, used = sizeof buf;
  while (have < kBodyLen) {
    if (used == sizeof buf) {
      if (RAND_bytes(buf, sizeof buf) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed: cannot generate a key");
      used = 0;
    }
    unsigned char b = buf[used++];
    if (b >= 248) continue;  // 248 = 4 * 62: reject to keep the draw uniform
    t.push_back(kBase62[b % 62]);
    ++have;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  char check[kCheckLen];
  token_check(t, check);
  t.append(check, kCheckLen);
  return t;
}

}  // namespace edgekey::shm
