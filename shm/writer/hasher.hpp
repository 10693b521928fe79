// hasher.hpp -- the one-way function between a token and its table key.
//
// SHA-256(token), or HMAC-SHA-256(pepper, token) when the deployment has a
// pepper. Both use OpenSSL's SHA-256 block functions on a context kept on the
// stack (HMAC from precomputed inner/outer pad states), so hashing never
// allocates and never fetches an algorithm per call. A token of 16..55 bytes
// (every issued one) is one padded block, built in registers on x86 with
// SSSE3; others go through SHA256_Update/Final. Tests compare both paths
// with OpenSSL's SHA256() and HMAC().
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace edgekey::shm {

class TokenHasher {
 public:
  TokenHasher();                                // SHA-256
  explicit TokenHasher(std::string_view pepper);  // HMAC-SHA-256; empty pepper = SHA-256
  TokenHasher(const TokenHasher &) = default;
  TokenHasher &operator=(const TokenHasher &) = default;
  ~TokenHasher();

  void hash(std::string_view token, uint8_t out[32]) const;
  bool keyed() const { return keyed_; }

 private:
  void hash_general(std::string_view token, uint8_t out[32]) const;

  bool keyed_ = false;
  // Two SHA256_CTX images (inner and outer pad absorbed); opaque here so the
  // header does not pull in OpenSSL's deprecated low-level API.
  alignas(16) unsigned char inner_[128];
  alignas(16) unsigned char outer_[128];
};

// Constant-time equality of two 32-byte hashes: OR of the XOR of four words,
// no data-dependent branch (the barrier keeps the compiler from adding an
// early exit). Same contract as OpenSSL's CRYPTO_memcmp()==0, which every
// other hash comparison uses; inlined here because validate's hit path is
// measured against a floor, and CRYPTO_memcmp is a volatile byte loop behind
// a library call (its cost: bench/results/lookup.md).
// hasher_test checks both agree on every single-bit difference.
// One step of it, for words already in registers (find_slot): acc | x ^ y.
inline uint64_t ct_accumulate(uint64_t acc, uint64_t x, uint64_t y) {
  acc |= x ^ y;
#if defined(__GNUC__)
  __asm__ volatile("" : "+r"(acc));
#endif
  return acc;
}
inline bool hash_equal(const uint8_t a[32], const uint8_t b[32]) {
  uint64_t acc = 0;
  for (int i = 0; i < 4; ++i) {
    uint64_t x, y;
    std::memcpy(&x, a + 8 * i, 8);
    std::memcpy(&y, b + 8 * i, 8);
    acc = ct_accumulate(acc, x, y);
  }
  return acc == 0;
}

}  // namespace edgekey::shm
