#include "shm/writer/hasher.hpp"
#include "shm/writer/pepper.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>

#include <openssl/sha.h>

#include <cstring>
#include <fstream>
#include <random>
#include <vector>

using namespace edgekey::shm;

TEST(Hasher, Sha256KnownVector) {
  uint8_t h[32];
  TokenHasher().hash("abc", h);
  const uint8_t want[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                            0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                            0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  EXPECT_EQ(std::memcmp(h, want, 32), 0);
}

TEST(Hasher, HmacMatchesOpenSslHmac) {
  for (std::string pepper : {std::string(16, 'p'), std::string("a much longer pepper, ") + std::string(80, 'x')}) {
    TokenHasher h(pepper);
    EXPECT_TRUE(h.keyed());
    for (std::string token : {std::string(), std::string("ek_sk_live_abc"), std::string(300, 't')}) {
      uint8_t ours[32], ref[32];
      unsigned len = 0;
      h.hash(token, ours);
      HMAC(EVP_sha256(), pepper.data(), int(pepper.size()),
           reinterpret_cast<const unsigned char *>(token.data()), token.size(), ref, &len);
      ASSERT_EQ(len, 32u);
      EXPECT_TRUE(hash_equal(ours, ref)) << token;
    }
  }
}

// Every length across the one-block path (16..55 bytes) and the general one,
// at every alignment of a 16-byte lane, keyed and not, against OpenSSL.
TEST(Hasher, EveryLengthMatchesOpenSsl) {
  std::mt19937 rng(7);
  const std::string peppers[] = {std::string(16, 'p'), std::string(64, 'q'), std::string(100, 'r')};
  std::vector<TokenHasher> keyed;
  for (const auto &p : peppers) keyed.emplace_back(p);
  std::string buf(200, '\0');
  for (size_t len = 0; len <= 130; ++len) {
    for (size_t offset = 0; offset < 16; offset += 5) {
      for (size_t i = 0; i < len; ++i) buf[offset + i] = char(rng());
      const std::string_view token(buf.data() + offset, len);
      const auto *bytes = reinterpret_cast<const unsigned char *>(token.data());
      uint8_t ours[32], ref[32];
      TokenHasher().hash(token, ours);
      SHA256(bytes, len, ref);
      EXPECT_TRUE(hash_equal(ours, ref)) << "sha256, length " << len;
      for (size_t k = 0; k < keyed.size(); ++k) {
        unsigned n = 0;
        keyed[k].hash(token, ours);
        HMAC(EVP_sha256(), peppers[k].data(), int(peppers[k].size()), bytes, len, ref, &n);
        EXPECT_TRUE(hash_equal(ours, ref)) << "hmac, length " << len << ", pepper " << k;
      }
    }
  }
}

TEST(Hasher, HmacDiffersFromPlainAndBetweenPeppers) {
  uint8_t a[32], b[32], c[32];
  TokenHasher().hash("token", a);
  TokenHasher(std::string(20, 'x')).hash("token", b);
  TokenHasher(std::string(20, 'y')).hash("token", c);
  EXPECT_FALSE(hash_equal(a, b));
  EXPECT_FALSE(hash_equal(b, c));
}

TEST(Pepper, FileRulesAndFingerprint) {
  std::string dir = testing::TempDir();
  std::string good = dir + "/pepper_good", shortp = dir + "/pepper_short";
  std::ofstream(good) << "0123456789abcdef0123456789abcdef\n";
  std::ofstream(shortp) << "short\n";
  std::string p;
  ASSERT_TRUE(read_pepper_file(good, p));
  EXPECT_EQ(p, "0123456789abcdef0123456789abcdef");  // trailing newline dropped
  EXPECT_FALSE(read_pepper_file(shortp, p));
  EXPECT_FALSE(read_pepper_file(dir + "/nope", p));
  uint8_t f1[32], f2[32];
  pepper_fingerprint("0123456789abcdef0123456789abcdef", f1);
  pepper_fingerprint("0123456789abcdef0123456789abcdeX", f2);
  EXPECT_FALSE(hash_equal(f1, f2));
}

TEST(Hasher, ConstantTimeEqualityAgreesWithCryptoMemcmp) {
  uint8_t a[32], b[32];
  TokenHasher().hash("a", a);
  for (int byte = 0; byte < 32; ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::memcpy(b, a, 32);
      b[byte] ^= uint8_t(1 << bit);
      ASSERT_EQ(hash_equal(a, b), CRYPTO_memcmp(a, b, 32) == 0) << byte << ":" << bit;
      ASSERT_FALSE(hash_equal(a, b));
    }
  std::memcpy(b, a, 32);
  EXPECT_TRUE(hash_equal(a, b));
}
