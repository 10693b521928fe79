#include "shm/src/crc32.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define EK_CRC_CLMUL 1
#endif

namespace edgekey::shm {
namespace {

using Tables = std::array<std::array<uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}

constexpr Tables kTables = make_tables();

#if defined(EK_CRC_CLMUL)
bool detect_clmul() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  return (c & bit_PCLMUL) && (c & bit_SSSE3) && (c & bit_SSE4_1);
}

// v carried across the distance whose constants k holds.
__attribute__((target("pclmul"))) inline __m128i fold(__m128i v, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(v, k, 0x00), _mm_clmulepi64_si128(v, k, 0x11));
}

// Folding as in Intel's "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ" (bit-reflected; constants as in Linux's crc32-pclmul): the
// message is front-padded with zeros to whole 16-byte blocks (leading zeros
// do not change a CRC whose register starts at 0; the ~0 initial value is
// XORed into the first 4 message bytes instead), folded 16 bytes at a time
// (the last three blocks in parallel, each across its own distance), then
// Barrett-reduced to 32 bits. Requires len >= 16.
__attribute__((target("pclmul,ssse3,sse4.1"))) uint32_t crc32_clmul(const uint8_t *p, size_t len) {
  alignas(16) static const uint8_t kShift[32] = {
      0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
      0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,   15};
  const size_t head = ((len - 1) & 15) + 1;  // message bytes in the first block, 1..16
  // First block: bytes 0..15 XOR ~0 in 0..3, moved up by 16 - head with zero fill.
  __m128i x = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)), _mm_cvtsi32_si128(-1));
  x = _mm_shuffle_epi8(x, _mm_loadu_si128(reinterpret_cast<const __m128i *>(kShift + head)));
  p += head;
  len -= head;
  // With head < 4 the rest of the initial ~0 falls into the second block.
  __m128i carry = _mm_cvtsi32_si128(head < 4 ? int(~0u >> (8 * head)) : 0);
  auto next = [&] {
    const __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)), carry);
    carry = _mm_setzero_si128();
    p += 16;
    len -= 16;
    return b;
  };
  // Folding a block across d bits: x^(d+32), x^(d-32) mod P (bit-reflected).
  const __m128i k128 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
  const __m128i k256 = _mm_set_epi64x(0x015a546366, 0x00f1da05aa);
  const __m128i k384 = _mm_set_epi64x(0x0174359406, 0x003db1ecdc);
  while (len > 48) x = _mm_xor_si128(fold(x, k128), next());
  // The last (up to) three blocks fold in parallel rather than in a chain.
  if (len == 48) {
    const __m128i b1 = next(), b2 = next(), b3 = next();
    x = _mm_xor_si128(_mm_xor_si128(fold(x, k384), fold(b1, k256)), _mm_xor_si128(fold(b2, k128), b3));
  } else if (len == 32) {
    const __m128i b1 = next(), b2 = next();
    x = _mm_xor_si128(_mm_xor_si128(fold(x, k256), fold(b1, k128)), b2);
  } else if (len == 16) {
    x = _mm_xor_si128(fold(x, k128), next());
  }
  // 128 -> 64 -> 32 bits, then Barrett reduction.
  const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
  __m128i t = _mm_clmulepi64_si128(x, k128, 0x10);
  x = _mm_xor_si128(_mm_srli_si128(x, 8), t);
  t = _mm_srli_si128(x, 4);
  x = _mm_clmulepi64_si128(_mm_and_si128(x, mask32), _mm_set_epi64x(0, 0x0163cd6124), 0x00);
  x = _mm_xor_si128(x, t);
  const __m128i mu_p = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // mu, P (reflected)
  t = _mm_clmulepi64_si128(_mm_and_si128(x, mask32), mu_p, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), mu_p, 0x00);
  x = _mm_xor_si128(x, t);
  return ~uint32_t(_mm_extract_epi32(x, 1));
}
#endif

}  // namespace

uint32_t crc32_ieee_table(const void *data, size_t len) {
  const auto *p = static_cast<const uint8_t *>(data);
  uint32_t crc = 0xFFFFFFFFu;
  while (len >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;  // little-endian hosts (the table lives on one host)
    crc = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^
          kTables[4][lo >> 24] ^ kTables[3][hi & 0xff] ^ kTables[2][(hi >> 8) & 0xff] ^
          kTables[1][(hi >> 16) & 0xff] ^ kTables[0][hi >> 24];
    p += 8;
    len -= 8;
  }
  while (len--) crc = (crc >> 8) ^ kTables[0][(crc ^ *p++) & 0xff];
  return crc ^ 0xFFFFFFFFu;
}

#if defined(EK_CRC_CLMUL)
// Set at load time; a CRC before that (static initialisation) sees false and
// takes the table path.
static const bool kHasClmul = detect_clmul();
#endif

bool crc32_has_clmul() {
#if defined(EK_CRC_CLMUL)
  return kHasClmul;
#else
  return false;
#endif
}

uint32_t crc32_ieee(const void *data, size_t len) {
#if defined(EK_CRC_CLMUL)
  if (len >= 16 && kHasClmul) return crc32_clmul(static_cast<const uint8_t *>(data), len);
#endif
  return crc32_ieee_table(data, len);
}

}  // namespace edgekey::shm
