#include "shm/src/crc32.hpp"
#include "shm/writer/token.hpp"

#include <zlib.h>

#include <edgekey/edgekey.h>
#include <gtest/gtest.h>

#include <random>
#include <set>

using namespace edgekey::shm;

TEST(Token, GeneratedTokenHasTheDesignShape) {
  std::string t = generate_token("ek", "sk", "live");
  ASSERT_EQ(t.size(), 2 + 1 + 2 + 1 + 4 + 1 + kBodyLen + kCheckLen);
  EXPECT_EQ(t.substr(0, 11), "ek_sk_live_");
  for (char c : t.substr(11)) EXPECT_TRUE(isalnum(static_cast<unsigned char>(c))) << t;
  ParsedToken p = parse_authorization(t, "ek", false);
  EXPECT_EQ(p.kind, TokenKind::Prefixed);
  EXPECT_EQ(p.type, EK_TYPE_SECRET);
  EXPECT_EQ(p.env, EK_ENV_LIVE);
  EXPECT_EQ(p.token, t);
}

TEST(Token, PublishableTestKeyParses) {
  std::string t = generate_token("acme9", "pk", "test");
  ParsedToken p = parse_authorization("Bearer " + t, "acme9", false);
  ASSERT_EQ(p.kind, TokenKind::Prefixed);
  EXPECT_EQ(p.type, EK_TYPE_PUBLISHABLE);
  EXPECT_EQ(p.env, EK_ENV_TEST);
}

TEST(Token, TokensAreDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(generate_token("ek", "sk", "live"));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Token, BodyCharactersAreSpreadOverTheAlphabet) {
  // 62 symbols x 2000 draws: every symbol appears (a biased or truncated
  // alphabet would leave some out).
  std::set<char> chars;
  for (int i = 0; i < 200; ++i) {
    std::string t = generate_token("ek", "sk", "live");
    for (char c : t.substr(11, kBodyLen)) chars.insert(c);
  }
  EXPECT_EQ(chars.size(), 62u);
}

TEST(Token, SchemeIsCaseInsensitiveAndWhitespaceIsTrimmed) {
  std::string t = generate_token("ek", "sk", "live");
  for (std::string h : {"Bearer " + t, "bearer " + t, "BEARER\t" + t, "  Bearer   " + t + " \t",
                        t, " " + t + " "}) {
    ParsedToken p = parse_authorization(h, "ek", false);
    EXPECT_EQ(p.kind, TokenKind::Prefixed) << '[' << h << ']';
    EXPECT_EQ(p.token, t);
  }
}

TEST(Token, MissingToken) {
  for (const char *h : {"", "   ", "Bearer", "bearer  ", "\t"})
    EXPECT_EQ(parse_authorization(h, "ek", true).kind, TokenKind::Missing) << '[' << h << ']';
}

TEST(Token, WrongSchemeOrExtraWordsAreMalformed) {
  std::string t = generate_token("ek", "sk", "live");
  for (std::string h : {"Basic " + t, "Token " + t, "Bearer " + t + " extra", "Bearerx " + t})
    EXPECT_EQ(parse_authorization(h, "ek", true).kind, TokenKind::Malformed) << h;
}

TEST(Token, BadChecksumIsMalformed) {
  std::string t = generate_token("ek", "sk", "live");
  for (size_t i = 11; i < t.size(); ++i) {
    std::string bad = t;
    bad[i] = bad[i] == 'a' ? 'b' : 'a';
    EXPECT_EQ(parse_authorization(bad, "ek", true).kind, TokenKind::Malformed) << bad;
  }
}

TEST(Token, EveryTypeAndEnvParsesAndNearMissesAreMalformed) {
  for (const char *type : {"sk", "pk"})
    for (const char *env : {"live", "test"}) {
      std::string t = generate_token("ek", type, env);
      ParsedToken p = parse_authorization(t, "ek", false);
      ASSERT_EQ(p.kind, TokenKind::Prefixed) << t;
      EXPECT_EQ(p.type, type[0] == 's' ? EK_TYPE_SECRET : EK_TYPE_PUBLISHABLE);
      EXPECT_EQ(p.env, env[0] == 'l' ? EK_ENV_LIVE : EK_ENV_TEST);
    }
  // The fixed part with one byte changed, the checksum recomputed.
  std::string t = generate_token("ek", "sk", "live");
  for (size_t i = 3; i < 11; ++i) {
    for (char c : {'K', 'S', 'x', '-', '_', 'L', 'T', '\0'}) {
      std::string bad = t;
      if (bad[i] == c) continue;
      bad[i] = c;
      token_check(std::string_view(bad).substr(0, bad.size() - kCheckLen), &bad[bad.size() - kCheckLen]);
      const bool still_valid = bad.compare(3, 8, "pk_live_") == 0 || bad.compare(3, 8, "sk_test_") == 0;
      EXPECT_EQ(parse_authorization(bad, "ek", true).kind,
                still_valid ? TokenKind::Prefixed : TokenKind::Malformed) << bad;
    }
  }
}

// Every byte value at every position of the body and the check: base62
// passes the shape check (the body's checksum recomputed), anything else is
// malformed.
TEST(Token, EveryByteAtEveryPositionOfBodyAndCheck) {
  const std::string t = generate_token("ek", "sk", "live");
  const std::string digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (size_t i = 11; i < t.size(); ++i) {
    for (int b = 0; b < 256; ++b) {
      std::string bad = t;
      bad[i] = char(b);
      const bool base62 = digits.find(char(b)) != std::string::npos;
      const bool in_body = i < t.size() - kCheckLen;
      if (in_body)
        token_check(std::string_view(bad).substr(0, bad.size() - kCheckLen), &bad[bad.size() - kCheckLen]);
      TokenKind want = TokenKind::Malformed;
      if (base62 && (in_body || bad == t)) want = TokenKind::Prefixed;
      ASSERT_EQ(parse_authorization(bad, "ek", false).kind, want) << "position " << i << " byte " << b;
    }
  }
}

TEST(Token, BadShapeWithOurPrefixIsMalformedEvenWithLegacyOn) {
  std::string t = generate_token("ek", "sk", "live");
  const std::string body = t.substr(11);
  for (std::string bad : {"ek_xk_live_" + body, "ek_sk_prod_" + body, "ek_sk_live_" + body.substr(1),
                          "ek_sk_live_" + body + "A", "ek_sk_live" + body, std::string("ek_"), std::string("ek_sk_live_"),
                          "ek_sk_live_" + body.substr(0, 37) + "-"})
    EXPECT_EQ(parse_authorization(bad, "ek", true).kind, TokenKind::Malformed) << bad;
}

TEST(Token, LegacyTokensNeedTheConfig) {
  for (std::string legacy : {"sk-abc123def456", "0123456789abcdef", "ek-not-ours", "eks_sk_live_x"}) {
    EXPECT_EQ(parse_authorization(legacy, "ek", false).kind, TokenKind::Malformed) << legacy;
    const std::string header = "Bearer " + legacy;  // p.token views into it
    ParsedToken p = parse_authorization(header, "ek", true);
    EXPECT_EQ(p.kind, TokenKind::Legacy) << legacy;
    EXPECT_EQ(p.token, legacy);
  }
}

TEST(Token, ControlCharactersAndOverlongTokensAreMalformed) {
  EXPECT_EQ(parse_authorization(std::string("Bearer ab\x01" "cd"), "ek", true).kind, TokenKind::Malformed);
  EXPECT_EQ(parse_authorization("Bearer ab\x7f", "ek", true).kind, TokenKind::Malformed);
  EXPECT_EQ(parse_authorization(std::string(kMaxTokenLen + 1, 'a'), "ek", true).kind,
            TokenKind::Malformed);
  EXPECT_EQ(parse_authorization(std::string(kMaxTokenLen, 'a'), "ek", true).kind, TokenKind::Legacy);
}

TEST(Token, PrefixRules) {
  EXPECT_TRUE(valid_prefix("ek"));
  EXPECT_TRUE(valid_prefix("a1234567890abcde"));
  EXPECT_FALSE(valid_prefix("e"));
  EXPECT_FALSE(valid_prefix("a1234567890abcdef"));
  EXPECT_FALSE(valid_prefix("1ek"));
  EXPECT_FALSE(valid_prefix("Ek"));
  EXPECT_FALSE(valid_prefix("e_k"));
  EXPECT_THROW(generate_token("E", "sk", "live"), std::runtime_error);
  EXPECT_THROW(generate_token("ek", "xk", "live"), std::runtime_error);
  EXPECT_THROW(generate_token("ek", "sk", "prod"), std::runtime_error);
}

TEST(Token, CheckIsCrc32InBase62) {
  // CRC32("123456789") is the standard check value 0xCBF43926; in base62
  // (0-9A-Za-z, most significant first) that is "3jZRME".
  char out[kCheckLen];
  token_check("123456789", out);
  EXPECT_EQ(std::string(out, kCheckLen), "3jZRME");
}

// The carry-less multiply path (taken for 16 bytes and more where the CPU
// has it) against the table path and zlib: every length to 300, at several
// alignments, random and all-0x00 and all-0xFF contents.
TEST(Token, Crc32FastPathMatchesTheTableAndZlib) {
  std::mt19937 rng(11);
  std::vector<unsigned char> buf(300 + 16);
  for (size_t len = 0; len <= 300; ++len) {
    for (size_t offset : {0, 1, 7, 13}) {
      for (int fill = 0; fill < 3; ++fill) {
        for (size_t i = 0; i < len; ++i) buf[offset + i] = fill == 0 ? uint8_t(rng()) : fill == 1 ? 0x00 : 0xff;
        const unsigned char *p = buf.data() + offset;
        const uint32_t ref = uint32_t(crc32(0L, p, uInt(len)));
        ASSERT_EQ(crc32_ieee_table(p, len), ref) << len;
        ASSERT_EQ(crc32_ieee(p, len), ref) << "length " << len << " offset " << offset << " fill " << fill;
      }
    }
  }
  printf("crc32_ieee: carry-less multiply path %s\n", crc32_has_clmul() ? "taken" : "not available");
}

TEST(Token, Crc32MatchesZlib) {
  std::string buf;
  for (size_t len = 0; len < 200; ++len) {
    buf.push_back(char(len * 131 + 7));
    EXPECT_EQ(crc32_ieee(buf.data(), buf.size()),
              uint32_t(crc32(0L, reinterpret_cast<const Bytef *>(buf.data()), uInt(buf.size()))))
        << len;
  }
}
