// Replays seeds and deterministic mutations of them through the fuzz entry
// point, so the fuzz target's properties are checked on every test run (the
// real fuzzing is fuzz_record with clang and EDGEKEY_FUZZ=ON).
#include "sync/record/keyset_file.hpp"
#include "sync/record/record_json.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <random>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

namespace edgekey::sync {
namespace {

void run(const std::string &s) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t *>(s.data()), s.size());
}

std::vector<std::string> seeds() {
  KeyRecord tricky = testing::minimal_record("null");
  tricky.name = "a: \"b\" # c";
  tricky.regions = {"::", "1:30", "yes"};
  return {encode_record_json(testing::full_record()), encode_record_json(testing::minimal_record()),
          emit_keyset_yaml({testing::full_record(), tricky}),
          "keys:\n  - {id: a, hash: \"sha256:" + std::string(64, '1') + "\", workspace: w, type: secret, "
          "env: live, role: r, status: active, scopes: [x, \"y\"], expires_at: 2026-11-22T10:00:00Z}\n",
          std::string(5000, '['), std::string(5000, '{'), "keys: &a [*a]", "- &x [*x, *x]"};
}

TEST(FuzzSmoke, SeedsAndMutationsHoldTheProperties) {
  std::mt19937 rng(7);
  static const char kAlphabet[] = "{}[]:,\"'\\ -#&*!|>\n\t0aZ\x00\xff\xc3";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);  // keeps the NUL
  for (const std::string &seed : seeds()) {
    run(seed);
    for (int i = 0; i < 300; ++i) {
      std::string s = seed;
      int edits = 1 + int(rng() % 4);
      for (int e = 0; e < edits && !s.empty(); ++e) {
        size_t at = rng() % s.size();
        switch (rng() % 4) {
          case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
          case 1: s.erase(at, 1 + rng() % 8); break;
          case 2: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
          case 3: s.resize(at); break;
        }
      }
      ASSERT_NO_FATAL_FAILURE(run(s));
    }
  }
}

}  // namespace
}  // namespace edgekey::sync
