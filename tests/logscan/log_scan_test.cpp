// The token scanner itself: a real token is caught wherever it sits in a
// line, anything short of one (bad checksum, key id, hash prefix, a cut
// token) is not, a directory scan reports file:line, redacted, and counts
// what it read, and the log_scan program fails on a token and on no log.
#include "log_scan.hpp"

#include "shm/writer/token.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

using edgekey::logscan::find_tokens;
using edgekey::logscan::redact;
using edgekey::logscan::scan_dir;
namespace shm = edgekey::shm;

namespace {

const std::vector<std::string> kNoStems;

size_t hits(const std::string &line, const std::vector<std::string> &stems = kNoStems) {
  return find_tokens(line, stems).size();
}

// `t` with its last check character changed: a checksum that does not match.
std::string bad_checksum(std::string t) {
  t.back() = t.back() == 'A' ? 'B' : 'A';
  return t;
}

std::string sha256_hex(const std::string &token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> h;
  unsigned int len = 0;
  EXPECT_EQ(EVP_Digest(token.data(), token.size(), h.data(), &len, EVP_sha256(), nullptr), 1);
  static const char *d = "0123456789abcdef";
  std::string s;
  for (unsigned int i = 0; i < len; ++i) s += {d[h[i] >> 4], d[h[i] & 15]};
  return s;
}

class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "logscan-test-XXXXXX").string();
    path = mkdtemp(t.data()) ? t : "";
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  void write(const std::string &name, const std::string &text) const { std::ofstream(path + "/" + name) << text; }
  std::string path;
};

struct ScanRun {
  int rc = -1;
  std::string out;  // stdout and stderr
};

// log_scan on `dir`, as ctest runs it.
ScanRun log_scan(const std::string &dir) {
  ScanRun r;
  const std::string cmd = std::string(LOG_SCAN_PATH) + " --legacy sdtest-legacy-token- '" + dir + "' 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace

TEST(FindTokens, AGeneratedTokenIsCaughtWhereverItSits) {
  for (const char *prefix : {"ek", "acme", "a1", "zz9876543210abcd"})
    for (const char *type : {"sk", "pk"})
      for (const char *env : {"live", "test"}) {
        const std::string t = shm::generate_token(prefix, type, env);
        SCOPED_TRACE(t);
        EXPECT_EQ(hits(t), 1u);
        EXPECT_EQ(hits("Authorization: Bearer " + t), 1u);
        EXPECT_EQ(hits("edgekeyd: token=" + t + ", rejected"), 1u);
        EXPECT_EQ(hits("{\"token\":\"" + t + "\"}"), 1u);
        EXPECT_EQ(hits("GET /v1/validate?key=" + t + "&x=1 HTTP/1.1"), 1u);
        EXPECT_EQ(hits("glued" + t + "glued"), 1u) << "a token run into other characters is still a token";
        EXPECT_EQ(hits(t + " " + t), 2u);
      }
}

TEST(FindTokens, ABadChecksumIsNotAToken) {
  const std::string t = shm::generate_token("ek", "sk", "live");
  ASSERT_EQ(hits(t), 1u);
  EXPECT_EQ(hits(bad_checksum(t)), 0u);
  EXPECT_EQ(hits("Bearer " + bad_checksum(t)), 0u);
  // The prefix is under the CRC: the same token under another prefix fails it.
  EXPECT_EQ(hits("xy" + t.substr(2)), 0u);
}

TEST(FindTokens, KeyIdsHashPrefixesAndCutTokensAreNot) {
  const std::string t = shm::generate_token("ek", "sk", "live");
  EXPECT_EQ(hits("revoked key key_first used (workspace ws_test)"), 0u);
  EXPECT_EQ(hits("key key_8f3kQ2mZ1p: hash sha256:" + sha256_hex(t).substr(0, 12) + "…"), 0u);
  EXPECT_EQ(hits("hash: sha256:" + sha256_hex(t)), 0u);
  EXPECT_EQ(hits(t.substr(0, t.size() - 1)), 0u) << "one check character short";
  EXPECT_EQ(hits(t.substr(0, 11) + "…"), 0u) << "the non-secret prefix alone";
  EXPECT_EQ(hits("ek_sk_live_"), 0u);
  EXPECT_EQ(hits(""), 0u);
}

TEST(FindTokens, ALegacyTokenIsCaughtByItsStem) {
  const std::vector<std::string> stems = {"sdtest-legacy-token-"};
  EXPECT_EQ(hits("GET /v1/validate Authorization: Bearer sdtest-legacy-token-4242-abcdefghijklmnop", stems), 1u);
  EXPECT_EQ(hits("GET /v1/validate 200 key_sdtest0001", stems), 0u);
  EXPECT_EQ(hits("sdtest-legacy-token-1-x", kNoStems), 0u) << "without the stem, no shape to recognise";
}

TEST(Redact, HidesTheSecretAndKeepsTheRest) {
  const std::string t = shm::generate_token("ek", "sk", "live");
  const std::string line = "a " + t + " b sdtest-legacy-token-7-abc c";
  const std::vector<std::string> stems = {"sdtest-legacy-token-"};
  const std::string r = redact(line, find_tokens(line, stems));
  EXPECT_EQ(r, "a ek_sk_live_<redacted> b <redacted> c");
  EXPECT_EQ(r.find(t.substr(11)), std::string::npos);
}

TEST(ScanDir, ReportsFileAndLineRedactedAndCounts) {
  TempDir d;
  ASSERT_FALSE(d.path.empty());
  const std::string t = shm::generate_token("ek", "pk", "test");
  d.write("clean-1-0-edgekeyd.log", "started\nready\n");
  d.write("dirty-1-1-edgekeyd.log", "one\ntwo\nvalidate Bearer " + t + " -> 200\nfour\n");
  d.write("bad-1-2-nginx-error.log", "Bearer " + bad_checksum(t) + "\n");
  const auto s = scan_dir(d.path, kNoStems);
  EXPECT_EQ(s.files, 3u);
  EXPECT_EQ(s.lines, 7u);
  EXPECT_TRUE(s.errors.empty());
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].file, d.path + "/dirty-1-1-edgekeyd.log");
  EXPECT_EQ(s.findings[0].line, 3u);
  EXPECT_EQ(s.findings[0].redacted, "validate Bearer ek_pk_test_<redacted> -> 200");
}

TEST(ScanDir, AnEmptyOrMissingDirectoryScansNothing) {
  TempDir d;
  ASSERT_FALSE(d.path.empty());
  auto s = scan_dir(d.path, kNoStems);
  EXPECT_EQ(s.files, 0u);
  EXPECT_TRUE(s.findings.empty());
  s = scan_dir(d.path + "/missing", kNoStems);
  EXPECT_EQ(s.files, 0u);
  EXPECT_FALSE(s.errors.empty()) << "a missing directory is an error, not a clean scan";
}

TEST(LogScanProgram, FailsOnATokenAndOnNoLogPassesOnCleanLogs) {
  TempDir d;
  ASSERT_FALSE(d.path.empty());
  ScanRun r = log_scan(d.path);
  EXPECT_EQ(r.rc, 2) << "a scan of nothing must not pass:\n" << r.out;
  EXPECT_NE(r.out.find("0 files, 0 lines"), std::string::npos) << r.out;

  d.write("test_daemon.Daemon.X-10-0-edgekeyd.log", "<6>ready: 1 keys\n<4>revoked key key_first was used\n");
  r = log_scan(d.path);
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("1 files, 2 lines scanned"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(edgekeyd 1)"), std::string::npos) << r.out;

  const std::string t = shm::generate_token("acme", "sk", "live");
  d.write("test_ctl.ctl.Keys.Y-11-3-edgekeyctl-stderr.log", "edgekeyctl: copy it now\nedgekeyctl: " + t + "\n");
  r = log_scan(d.path);
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find(d.path + "/test_ctl.ctl.Keys.Y-11-3-edgekeyctl-stderr.log:2: a token in a log: "
                       "edgekeyctl: acme_sk_live_<redacted>"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find(t), std::string::npos) << "the report itself must not hold the token";
  EXPECT_NE(r.out.find("2 files, 4 lines scanned"), std::string::npos) << r.out;
}
