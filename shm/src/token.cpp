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

// token.size() >= prefix.size(). A plain loop: prefixes are a few bytes, and
// a memcmp() call or a vectorized loop costs more than the compare.
bool has_prefix(std::string_view token, std::string_view prefix) {
  for (size_t i = 0; i < prefix.size(); ++i)
    if (token[i] != prefix[i]) return false;
  return true;
}

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_visible(char c) { return c > 0x20 && c < 0x7f; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// True when all `n` bytes at p are base62, n >= 16. SSE2: per 16-byte lane
// (the last one overlapping) a digit range check on x and a letter range
// check on x | 0x20 (which maps exactly A-Z and a-z into a-z), each as one
// biased signed compare; elsewhere a table walk.
bool all_base62(const char *p, size_t n) {
#if defined(__SSE2__)
  auto ok_lanes = [](const char *q) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
    const __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8(char(0x80 - '0'))),
                                         _mm_set1_epi8(char(0x80 + 10)));
    const __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    const __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(lower, _mm_set1_epi8(char(0x80 - 'a'))),
                                          _mm_set1_epi8(char(0x80 + 26)));
    return _mm_movemask_epi8(_mm_or_si128(digit, letter));
  };
  int ok = ok_lanes(p + n - 16);
  for (size_t i = 0; i + 16 < n; i += 16) ok &= ok_lanes(p + i);
  return ok == 0xffff;
#else
  uint8_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad |= kDigit[uint8_t(p[i])];
  return !(bad & kNotBase62);
#endif
}

// "bearer" in any case: (c | 0x20) per byte, as the six bytes of two loads.
bool iequals_bearer(std::string_view s) {
  if (s.size() != 6) return false;
  uint32_t a;
  uint16_t b;
  std::memcpy(&a, s.data(), 4);
  std::memcpy(&b, s.data() + 4, 2);
  return (a | 0x20202020u) == 0x72616562u && (b | 0x2020u) == 0x7265u;  // "bear", "er"
}

constexpr uint64_t word8(const char (&s)[9]) {
  uint64_t w = 0;
  for (int i = 7; i >= 0; --i) w = w << 8 | uint8_t(s[i]);
  return w;  // little-endian load of the 8 characters
}

// Our format after "{prefix}_": "sk_live_" + body + check, strictly.
ParsedToken classify_prefixed(std::string_view token, size_t prefix_len) {
  ParsedToken p;
  p.kind = TokenKind::Malformed;
  constexpr size_t kRest = 8 + kBodyLen + kCheckLen;  // "sk_live_" body check
  if (token.size() != prefix_len + 1 + kRest) return p;
  const char *rest = token.data() + prefix_len + 1;
  uint64_t w;
  std::memcpy(&w, rest, 8);
  switch (w) {
    case word8("sk_live_"): p.type = EK_TYPE_SECRET, p.env = EK_ENV_LIVE; break;
    case word8("sk_test_"): p.type = EK_TYPE_SECRET, p.env = EK_ENV_TEST; break;
    case word8("pk_live_"): p.type = EK_TYPE_PUBLISHABLE, p.env = EK_ENV_LIVE; break;
    case word8("pk_test_"): p.type = EK_TYPE_PUBLISHABLE, p.env = EK_ENV_TEST; break;
    default: return p;
  }
  if (!all_base62(rest + 8, kBodyLen)) return p;
  const char *c = rest + 8 + kBodyLen;  // six base62 digits, most significant first
  uint64_t d[kCheckLen];
  for (size_t i = 0; i < kCheckLen; ++i) d[i] = kDigit[uint8_t(c[i])];
  if ((d[0] | d[1] | d[2] | d[3] | d[4] | d[5]) & kNotBase62) return p;
  const uint64_t check = d[0] * 916132832 + d[1] * 14776336 + d[2] * 238328 + d[3] * 3844 +
                         d[4] * 62 + d[5];
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
  if (token.size() > prefix.size() && token[prefix.size()] == '_' && has_prefix(token, prefix))
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
