// OpenSSL 3 marks SHA256_Init/Update/Final/Transform deprecated; they remain
// the fastest path (~50 ns for a token, against ~130 ns for EVP_Digest) and
// are what EVP uses underneath. Confined to this file.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "shm/writer/hasher.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstddef>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define EK_SHA_LAST_BLOCK 1
#endif

namespace edgekey::shm {

static_assert(sizeof(SHA256_CTX) <= 128, "SHA256_CTX image does not fit");
static_assert(offsetof(SHA256_CTX, h) == 0);

namespace {

#if defined(EK_SHA_LAST_BLOCK)
bool detect_ssse3() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSSE3);
}
// Set at load time; a hash before that (static initialisation) sees false
// and takes the general path.
const bool kHasSsse3 = detect_ssse3();

// A message tail last_block() takes: the 0x80 marker and the 8-byte length
// fit behind it in one block.
constexpr bool fits_last_block(size_t n) { return n >= 16 && n <= 55; }

alignas(16) constexpr uint32_t kSha256Init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
// pshufb controls: kSeq + s moves bytes down by s (zero fill), kMark + s has
// 0x80 at byte 16 - s only.
alignas(16) constexpr uint8_t kSeq[32] = {0,    1,    2,    3,    4,    5,    6,    7,
                                          8,    9,    10,   11,   12,   13,   14,   15,
                                          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                          0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80};
alignas(16) constexpr uint8_t kMark[32] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};

// out = SHA-256 state `h` (8 words, as in SHA256_CTX) advanced by the last
// block of a message of `total` bytes whose final n bytes are `msg`,
// 16 <= n <= 55. The block and the state are each written with whole aligned
// 16-byte stores, which the block function's 16-byte loads forward from.
// (SHA256_Update/Final fill the context with copies of other sizes and
// offsets; loads spanning them wait until the stores retire, which ties the
// hash to the retirement of all earlier work, such as the token's CRC check:
// ~30 ns of validate's hit path.)
__attribute__((target("ssse3"), noinline)) void last_block(const void *h, const char *msg, size_t n,
                                                 uint64_t total, uint8_t out[32]) {
  auto load = [](const void *p) { return _mm_loadu_si128(static_cast<const __m128i *>(p)); };
  const size_t end = n / 16;             // the lane holding the 0x80 marker, 1..3
  const size_t shift = 16 * end + 16 - n;  // 1..16
  const __m128i tail = shift == 16 ? _mm_cvtsi32_si128(0x80)
                                   : _mm_or_si128(_mm_shuffle_epi8(load(msg + n - 16), load(kSeq + shift)),
                                                  load(kMark + shift));
  const __m128i zero = _mm_setzero_si128();
  __m128i l1 = tail, l2 = zero, l3 = zero;
  if (end >= 2) l1 = load(msg + 16), l2 = tail;
  if (end == 3) l2 = load(msg + 32), l3 = tail;
  l3 = _mm_or_si128(l3, _mm_set_epi64x(static_cast<long long>(__builtin_bswap64(total * 8)), 0));
  alignas(16) unsigned char block[64];
  alignas(16) SHA256_CTX c;
  auto *b = reinterpret_cast<__m128i *>(block);
  auto *st = reinterpret_cast<__m128i *>(&c);
  _mm_store_si128(b, load(msg));
  _mm_store_si128(b + 1, l1);
  _mm_store_si128(b + 2, l2);
  _mm_store_si128(b + 3, l3);
  _mm_store_si128(st, load(h));
  _mm_store_si128(st + 1, load(static_cast<const uint8_t *>(h) + 16));
  SHA256_Transform(&c, block);
  const __m128i bswap32 = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  _mm_storeu_si128(reinterpret_cast<__m128i *>(out), _mm_shuffle_epi8(_mm_load_si128(st), bswap32));
  _mm_storeu_si128(reinterpret_cast<__m128i *>(out + 16), _mm_shuffle_epi8(_mm_load_si128(st + 1), bswap32));
  // Wipe the token (and a keyed state) off the stack, as SHA256_Final does.
  for (int i = 0; i < 4; ++i) _mm_store_si128(b + i, zero);
  _mm_store_si128(st, zero);
  _mm_store_si128(st + 1, zero);
  __asm__ volatile("" : : "r"(block), "r"(&c) : "memory");
}
#endif

}  // namespace

TokenHasher::TokenHasher() {
  std::memset(inner_, 0, sizeof inner_);
  std::memset(outer_, 0, sizeof outer_);
}

TokenHasher::TokenHasher(std::string_view pepper) : TokenHasher() {
  if (pepper.empty()) return;
  keyed_ = true;
  unsigned char key[SHA256_CBLOCK] = {};
  if (pepper.size() > SHA256_CBLOCK) {
    SHA256(reinterpret_cast<const unsigned char *>(pepper.data()), pepper.size(), key);
  } else {
    std::memcpy(key, pepper.data(), pepper.size());
  }
  unsigned char ipad[SHA256_CBLOCK], opad[SHA256_CBLOCK];
  for (size_t i = 0; i < SHA256_CBLOCK; ++i) {
    ipad[i] = key[i] ^ 0x36;
    opad[i] = key[i] ^ 0x5c;
  }
  SHA256_CTX c;
  SHA256_Init(&c);
  SHA256_Update(&c, ipad, sizeof ipad);
  std::memcpy(inner_, &c, sizeof c);
  SHA256_Init(&c);
  SHA256_Update(&c, opad, sizeof opad);
  std::memcpy(outer_, &c, sizeof c);
  OPENSSL_cleanse(&c, sizeof c);
  OPENSSL_cleanse(key, sizeof key);
  OPENSSL_cleanse(ipad, sizeof ipad);
  OPENSSL_cleanse(opad, sizeof opad);
}

TokenHasher::~TokenHasher() {
  OPENSSL_cleanse(inner_, sizeof inner_);
  OPENSSL_cleanse(outer_, sizeof outer_);
}

void TokenHasher::hash(std::string_view token, uint8_t out[32]) const {
#if defined(EK_SHA_LAST_BLOCK)
  // One block (16..55 bytes: every issued token): a tail call, no frame here.
  if (!keyed_ && fits_last_block(token.size()) && kHasSsse3)
    return last_block(kSha256Init, token.data(), token.size(), token.size(), out);
#endif
  hash_general(token, out);
}

__attribute__((noinline)) void TokenHasher::hash_general(std::string_view token, uint8_t out[32]) const {
#if defined(EK_SHA_LAST_BLOCK)
  if (keyed_ && fits_last_block(token.size()) && kHasSsse3) {  // inner and outer: one block each
    alignas(16) uint8_t inner_digest[32];
    last_block(inner_, token.data(), token.size(), SHA256_CBLOCK + token.size(), inner_digest);
    last_block(outer_, reinterpret_cast<const char *>(inner_digest), 32, SHA256_CBLOCK + 32, out);
    OPENSSL_cleanse(inner_digest, sizeof inner_digest);
    return;
  }
#endif
  SHA256_CTX c;
  if (!keyed_) {
    SHA256_Init(&c);
    SHA256_Update(&c, token.data(), token.size());
    SHA256_Final(out, &c);
    return;
  }
  uint8_t inner_digest[32];
  std::memcpy(&c, inner_, sizeof c);
  SHA256_Update(&c, token.data(), token.size());
  SHA256_Final(inner_digest, &c);
  std::memcpy(&c, outer_, sizeof c);
  SHA256_Update(&c, inner_digest, sizeof inner_digest);
  SHA256_Final(out, &c);
}

}  // namespace edgekey::shm
