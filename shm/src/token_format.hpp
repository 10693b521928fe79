// token_format.hpp -- the checks of the key format (token.hpp), inline:
// ek_validate classifies a token on every call, and a call into token.cpp
// hands the token back through memory, where the hash then waits for it
// (~6 ns of a ~100 ns validate, validate_bench --sizes=10000).
// Internal to libedgekey; token.cpp holds the general parse and the codec.
#pragma once

#include "shm/src/crc32.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/edgekey.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace edgekey::shm {
namespace format {

inline constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// Base62 digit value of a byte, or kNotBase62 (a single OR over a token's
// digits then tells whether any byte was outside the alphabet).
inline constexpr uint8_t kNotBase62 = 0x80;
constexpr std::array<uint8_t, 256> make_digits() {
  std::array<uint8_t, 256> d{};
  for (auto &x : d) x = kNotBase62;
  for (uint8_t i = 0; i < 62; ++i) d[uint8_t(kBase62[i])] = i;
  return d;
}
inline constexpr std::array<uint8_t, 256> kDigit = make_digits();

// token.size() >= prefix.size(). A plain loop: prefixes are a few bytes, and
// a memcmp() call or a vectorized loop costs more than the compare.
inline bool has_prefix(std::string_view token, std::string_view prefix) {
  for (size_t i = 0; i < prefix.size(); ++i)
    if (token[i] != prefix[i]) return false;
  return true;
}

// True when all `n` bytes at p are base62, n >= 16. SSE2: per 16-byte lane
// (the last one overlapping) a digit range check on x and a letter range
// check on x | 0x20 (which maps exactly A-Z and a-z into a-z), each as one
// biased signed compare; elsewhere a table walk.
inline bool all_base62(const char *p, size_t n) {
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
inline bool iequals_bearer(std::string_view s) {
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
// always_inline: see the top of this file.
__attribute__((always_inline)) inline ParsedToken classify_prefixed(std::string_view token,
                                                                   size_t prefix_len) {
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

}  // namespace format

// Reading a few bytes past a string's NUL is harmless within its page, but
// AddressSanitizer and ThreadSanitizer (rightly, by the language's rules)
// report it when those bytes were freed: sanitized builds always measure the
// string first.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EK_PAGE_OVERREAD 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define EK_PAGE_OVERREAD 0
#endif
#endif
#if !defined(EK_PAGE_OVERREAD)
#define EK_PAGE_OVERREAD 1
#endif

// parse_authorization() (token.hpp) of a NUL-terminated value, ek_validate's:
// a value that is just "Bearer <token>" or "<token>" of our format is
// classified without measuring it first (strlen), anything else goes through
// the general parse. Inlined into the caller, so the token it returns stays
// in registers on its way to the hash.
__attribute__((always_inline)) inline ParsedToken parse_authorization(const char *auth,
                                                                    std::string_view prefix,
                                                                    bool legacy_allowed) {
#if EK_PAGE_OVERREAD
  // "Bearer <token>" or "<token>": k bytes that start with the prefix and
  // '_', then a NUL. Everything read lies within 7 + k + 1 bytes of auth,
  // inside its page (no fault whatever follows the string). The kind is what
  // the general parse gives: accepted, the bytes are all format characters,
  // none a NUL, so they are the whole string; refused, the string (cut short
  // by an earlier NUL or not) is a word starting with the prefix and '_'
  // that is not a whole token of our format, which the general parse calls
  // Malformed too. (A Malformed answer's other fields are unspecified.)
  const size_t k = prefix.size() + 1 + 8 + kBodyLen + kCheckLen;
  constexpr uintptr_t kPage = 4096;
  if ((reinterpret_cast<uintptr_t>(auth) & (kPage - 1)) <= kPage - (7 + k + 1)) {
    const char *t = auth;
    if (t[6] == ' ' && format::iequals_bearer(std::string_view(t, 6))) t += 7;
    if (t[k] == '\0' && t[prefix.size()] == '_' &&
        format::has_prefix(std::string_view(t, k), prefix)) {
      return format::classify_prefixed(std::string_view(t, k), prefix.size());
    }
  }
#endif
  return parse_authorization(std::string_view(auth), prefix, legacy_allowed);
}

}  // namespace edgekey::shm
