// parse_authorization(const char *): ek_validate's entry, which classifies a
// plain "Bearer <token>" or "<token>" without measuring the string first.
// Whatever the input, it must answer the kind the general parse of the
// measured string answers (and for an accepted token the same token, type
// and env), and never read past the string's page.
#include "shm/src/token_format.hpp"

#include <edgekey/edgekey.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace edgekey::shm;

namespace {

void expect_same(const char *in, std::string_view prefix, bool legacy) {
  const ParsedToken want = parse_authorization(std::string_view(in), prefix, legacy);
  const ParsedToken got = parse_authorization(in, prefix, legacy);
  const std::string shown = std::string("[") + in + "] prefix " + std::string(prefix);
  ASSERT_EQ(int(got.kind), int(want.kind)) << shown;
  if (got.kind == TokenKind::Malformed) return;  // its other fields are unspecified
  EXPECT_EQ(got.token.data(), want.token.data()) << shown;
  EXPECT_EQ(got.token.size(), want.token.size()) << shown;
  EXPECT_EQ(got.type, want.type) << shown;
  EXPECT_EQ(got.env, want.env) << shown;
}

// Headers around tokens of several prefixes: the shapes the fast path takes,
// near misses of them, and every truncation and extension.
std::vector<std::string> inputs() {
  std::vector<std::string> in = {"", "B", "Bearer", "Bearer ", "Bearer  ", "bearer x", "Basic abc"};
  for (const char *prefix : {"ek", "acme9", "bearer", "abcdefghijklmnop"}) {
    for (const char *type : {"sk", "pk"})
      for (const char *env : {"live", "test"}) {
        const std::string t = generate_token(prefix, type, env);
        for (const std::string &h : {t, "Bearer " + t, "bearer " + t, "BEARER " + t, "Bearer  " + t,
                                     "Bearer\t" + t, " " + t, t + " ", "Bearer " + t + "\t", t + "x",
                                     "Bearer " + t + "x", "Basic " + t, "Bearerx" + t})
          in.push_back(h);
        for (size_t n = 0; n < t.size(); ++n) in.push_back(t.substr(0, n));
        for (size_t n = 0; n < t.size(); ++n) in.push_back("Bearer " + t.substr(0, n));
      }
  }
  return in;
}

}  // namespace

TEST(TokenCstr, AnswersWhatTheGeneralParseAnswers) {
  for (const std::string &h : inputs())
    for (const char *prefix : {"ek", "acme9", "bearer", "abcdefghijklmnop"})
      for (bool legacy : {false, true}) expect_same(h.c_str(), prefix, legacy);
}

TEST(TokenCstr, EveryByteChangedAtEveryPositionAnswersTheSame) {
  const std::string t = "Bearer " + generate_token("ek", "sk", "live");
  std::mt19937 rng(5);
  for (size_t i = 0; i < t.size(); ++i)
    for (int n = 0; n < 24; ++n) {
      std::string bad = t;
      bad[i] = char(1 + rng() % 255);  // never NUL: the string keeps its length
      expect_same(bad.c_str(), "ek", n % 2 == 0);
    }
}

// Strings ending at the last byte of a page whose next page is unmapped: a
// read past the NUL faults there, so a wrong page check crashes this test.
TEST(TokenCstr, NeverReadsPastTheStringsPage) {
  const long page = sysconf(_SC_PAGESIZE);
  auto *mem = static_cast<char *>(
      mmap(nullptr, size_t(page) * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(mem, MAP_FAILED);
  ASSERT_EQ(mprotect(mem + page, size_t(page), PROT_NONE), 0);
  for (const std::string &h : inputs()) {
    char *at = mem + page - (h.size() + 1);
    std::memcpy(at, h.c_str(), h.size() + 1);
    expect_same(at, "ek", false);
    expect_same(at, "abcdefghijklmnop", true);
  }
  // Also with garbage (and a valid-looking token tail) right behind the NUL.
  const std::string t = generate_token("ek", "sk", "live");
  std::memset(mem, 'A', size_t(page));
  std::memcpy(mem, t.c_str(), t.size() - 1);
  mem[t.size() - 1] = '\0';  // one byte short, followed by 'A's
  expect_same(mem, "ek", false);
  munmap(mem, size_t(page) * 2);
}
