// edgekeyctl keys create: the token is printed once and only its hash is
// stored; the config's rules refuse bad keys before anything is written.
#include "harness.hpp"

#include "shm/writer/token.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <ctime>
#include <map>
#include <set>

namespace edgekey::ctl::test {
namespace {

const std::vector<std::string> kSecret = {"keys", "create", "--workspace", "ws_solar", "--type", "secret",
                                          "--env", "live", "--role", "developer"};

std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST(KeysCreate, PrintsTokenOnceAndStoresOnlyItsSha256) {
  Scratch s;
  const int64_t before = std::time(nullptr);
  const RunResult r = s.ctl(plus(kSecret, {"--scope", "billing:manage", "--region", "in-mum", "--allow-cidr",
                                           "203.0.113.0/24", "--allow-cidr", "2001:db8::/32", "--name", "CI pipeline"}));
  const int64_t after = std::time(nullptr);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = labelled(r.out, "id"), token = labelled(r.out, "token");
  ASSERT_FALSE(token.empty()) << r.out;
  EXPECT_EQ(count_of(r.out, token), 1u) << r.out;
  EXPECT_EQ(count_of(r.err, token), 0u);
  EXPECT_NE(r.err.find("not stored"), std::string::npos) << r.err;

  const shm::ParsedToken t = shm::parse_authorization(token, "ek", false);
  EXPECT_EQ(t.kind, shm::TokenKind::Prefixed);
  EXPECT_EQ(t.type, EK_TYPE_SECRET);
  EXPECT_EQ(t.env, EK_ENV_LIVE);
  EXPECT_EQ(token.rfind("ek_sk_live_", 0), 0u);

  const auto recs = s.records();
  ASSERT_EQ(recs.size(), 1u);
  const sync::KeyRecord &k = recs[0];
  EXPECT_EQ(k.id, id);
  EXPECT_EQ(k.id.size(), 14u);
  EXPECT_EQ(k.id.rfind("key_", 0), 0u);
  EXPECT_EQ(k.hash, "sha256:" + sha256_hex(token));
  EXPECT_EQ(k.workspace, "ws_solar");
  EXPECT_EQ(k.name, "CI pipeline");
  EXPECT_EQ(k.type, sync::KeyType::Secret);
  EXPECT_EQ(k.env, sync::KeyEnv::Live);
  EXPECT_EQ(k.role, "developer");
  EXPECT_EQ(k.scopes, std::vector<std::string>{"billing:manage"});
  EXPECT_EQ(k.regions, std::vector<std::string>{"in-mum"});
  EXPECT_EQ(k.allowed_cidrs, (std::vector<std::string>{"203.0.113.0/24", "2001:db8::/32"}));
  ASSERT_TRUE(k.created_at);
  EXPECT_GE(*k.created_at, before);
  EXPECT_LE(*k.created_at, after);
  EXPECT_FALSE(k.expires_at);
  EXPECT_EQ(k.status, sync::KeyStatus::Active);

  // Neither the token nor its random body is anywhere on disk.
  const std::string disk = s.all_files();
  EXPECT_EQ(disk.find(token), std::string::npos);
  EXPECT_EQ(disk.find(token.substr(11, 32)), std::string::npos);
}

TEST(KeysCreate, HmacConfigStoresHmacOfTokenWithPepper) {
  Scratch s;
  const std::string pepper = "a-pepper-of-at-least-16-bytes";
  write_file(s.dir() + "/pepper", pepper + "\n");
  s.write_config("hash: hmac-sha256\npepper_file: " + s.dir() + "/pepper\nkey_prefix: acme\n");
  const RunResult ok = s.ctl({"--json", "keys", "create", "--workspace", "ws_solar", "--type", "secret", "--env",
                              "test", "--role", "viewer"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  const auto j = nlohmann::json::parse(ok.out);
  const std::string token = j.at("token");
  EXPECT_EQ(token.rfind("acme_sk_test_", 0), 0u);
  const auto recs = s.records();
  ASSERT_FALSE(recs.empty());
  const sync::KeyRecord &k = recs.back();
  EXPECT_EQ(k.hash, "hmac-sha256:" + hmac_sha256_hex(pepper, token));
  EXPECT_NE(k.hash.substr(12), sha256_hex(token));
  EXPECT_EQ(s.all_files().find(token), std::string::npos);
}

TEST(KeysCreate, MissingPepperFileIsAConfigError) {
  Scratch s;
  s.write_config("hash: hmac-sha256\npepper_file: " + s.dir() + "/no-pepper\n");
  const RunResult r = s.ctl(kSecret);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(s.dir() + "/no-pepper"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(s.keyset()));
}

TEST(KeysCreate, JsonHoldsIdTokenAndRecord) {
  Scratch s;
  const RunResult r = s.ctl({"--json", "keys", "create", "--workspace", "ws_moon", "--type", "publishable", "--env",
                             "test", "--role", "viewer", "--allow-origin", "https://app.example.com", "--expires",
                             "24h"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 3u) << r.out;
  const std::string token = j.at("token");
  EXPECT_EQ(token.rfind("ek_pk_test_", 0), 0u);
  const auto &rec = j.at("record");
  EXPECT_EQ(rec.at("id"), j.at("id"));
  EXPECT_EQ(rec.at("hash"), "sha256:" + sha256_hex(token));
  EXPECT_EQ(rec.at("type"), "publishable");
  EXPECT_EQ(rec.at("allowed_origins"), nlohmann::json::array({"https://app.example.com"}));
  EXPECT_EQ(rec.dump().find(token), std::string::npos);
  const auto recs = s.records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].id, j.at("id"));
  ASSERT_TRUE(recs[0].expires_at && recs[0].created_at);
  EXPECT_EQ(*recs[0].expires_at - *recs[0].created_at, 86400);
}

TEST(KeysCreate, PublishableWithoutOriginIsRefused) {
  Scratch s;
  const RunResult r = s.ctl({"keys", "create", "--workspace", "ws_solar", "--type", "publishable", "--env", "live",
                             "--role", "viewer"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("publishable key needs at least one --allow-origin"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(s.keyset()));
}

TEST(KeysCreate, UnknownRoleIsRefusedNamingTheRoles) {
  Scratch s;
  const RunResult r = s.ctl({"keys", "create", "--workspace", "ws_solar", "--type", "secret", "--env", "live",
                             "--role", "admin"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "edgekeyctl: role \"admin\" is not in " + s.config() +
                       " (roles: analyst, developer, owner, viewer)\n");
  EXPECT_FALSE(file_exists(s.keyset()));
}

TEST(KeysCreate, RefusesWhatTheConfigOrRecordRulesForbid) {
  Scratch s;
  struct Case {
    std::vector<std::string> extra;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--scope", "agents:fly"}, "scope \"agents:fly\" is not a permission in " + s.config()},
      {{"--allow-cidr", "203.0.113.0/33"}, "--allow-cidr: expected IPv4 or IPv6 CIDRs"},
      {{"--allow-origin", "https://app.example.com/"}, "--allow-origin: expected origins like"},
      {{"--expires", "2020-01-01"}, "--expires \"2020-01-01\" is not in the future"},
      {{"--expires", "soon"}, "--expires \"soon\": expected a duration"},
      {{"--expires", "0s"}, "must be at least 1s"},
      {{"--name", "tab\there"}, "--name: expected UTF-8 text without control characters"},
  };
  for (const auto &c : cases) {
    const RunResult r = s.ctl(plus(kSecret, c.extra));
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  const RunResult ws = s.ctl({"keys", "create", "--workspace", "", "--type", "secret", "--env", "live", "--role",
                              "viewer"});
  EXPECT_EQ(ws.exit_code, 2);
  EXPECT_NE(ws.err.find("--workspace: expected 1 to 47 bytes"), std::string::npos) << ws.err;
  const RunResult pk = s.ctl({"keys", "create", "--workspace", "w", "--type", "publishable", "--env", "live", "--role",
                              "viewer", "--allow-origin", "https://a.example", "--scope", "agents:deploy"});
  EXPECT_EQ(pk.exit_code, 2);
  EXPECT_NE(pk.err.find("can never take effect on a publishable key"), std::string::npos) << pk.err;
  EXPECT_FALSE(file_exists(s.keyset()));
}

TEST(KeysCreate, ExpiresAcceptsDurationsTimesAndDates) {
  Scratch s;
  const int64_t before = std::time(nullptr);
  ASSERT_EQ(s.ctl(plus(kSecret, {"--expires", "90d"})).exit_code, 0);
  const int64_t after = std::time(nullptr);
  ASSERT_EQ(s.ctl(plus(kSecret, {"--expires", "2031-02-03"})).exit_code, 0);
  ASSERT_EQ(s.ctl(plus(kSecret, {"--expires", "2031-02-03T12:00:00+05:30"})).exit_code, 0);
  const auto recs = s.records();
  ASSERT_EQ(recs.size(), 3u);
  ASSERT_TRUE(recs[0].expires_at && recs[1].expires_at && recs[2].expires_at);
  EXPECT_GE(*recs[0].expires_at, before + 90 * 86400);
  EXPECT_LE(*recs[0].expires_at, after + 90 * 86400);
  EXPECT_EQ(sync::format_time(*recs[1].expires_at), "2031-02-03T00:00:00Z");
  EXPECT_EQ(sync::format_time(*recs[2].expires_at), "2031-02-03T06:30:00Z");
}

TEST(KeysCreate, ConcurrentProcessesAllLand) {
  Scratch s;
  constexpr int kProcs = 20;
  std::vector<Proc> procs;
  for (int i = 0; i < kProcs; ++i)
    procs.push_back(s.start({"--json", "keys", "create", "--workspace", "ws_" + std::to_string(i), "--type", "secret",
                             "--env", "test", "--role", "viewer"}));
  std::map<std::string, std::string> token_of = finish_all_printing_keys(procs);  // id -> token
  ASSERT_EQ(token_of.size(), size_t(kProcs));  // distinct ids
  const auto recs = s.records();
  ASSERT_EQ(recs.size(), size_t(kProcs));
  std::set<std::string> workspaces;
  for (const auto &k : recs) {
    ASSERT_TRUE(token_of.count(k.id)) << k.id;
    EXPECT_EQ(k.hash, "sha256:" + sha256_hex(token_of[k.id]));
    workspaces.insert(k.workspace);
  }
  EXPECT_EQ(workspaces.size(), size_t(kProcs));
}

// One item of a keyset in edgekeyctl's layout, for files the tests write by hand.
std::string keyset_item(const std::string &id, const std::string &hash, const std::string &type = "secret") {
  return "  - id: " + id + "\n    hash: " + hash + "\n    workspace: ws\n    type: " + type +
         "\n    env: live\n    role: viewer\n    status: active\n";
}

TEST(KeysCreate, KeysetWithUnreadableRecordIsNotRewritten) {
  Scratch s;
  const std::string keyset = "keys:\n" + keyset_item("key_broken0001", "sha256:nothex");
  write_file(s.keyset(), keyset);
  const RunResult r = s.ctl(kSecret);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("do not load"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("key_broken0001"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(s.keyset()), keyset);
  // Reading still works, with a warning.
  const RunResult l = s.ctl({"keys", "list", "--all"});
  EXPECT_EQ(l.exit_code, 0);
  EXPECT_NE(l.err.find("warning: skipped"), std::string::npos) << l.err;
}

// edgekeyctl keeps an index beside the keyset it wrote (<keyset>.index) and
// then decodes only the records it looks up; a file changed since (here by
// hand, in place) is checked again, so a record whose hash does not read
// still stops the edit.
TEST(KeysCreate, AKeysetChangedSinceTheLastEditIsCheckedWhole) {
  Scratch s;
  for (int i = 0; i < 3; ++i) ASSERT_EQ(s.ctl(kSecret).exit_code, 0);
  ASSERT_TRUE(file_exists(s.keyset() + ".index"));
  const std::string good = read_file(s.keyset());
  const std::string broken = keyset_item("key_broken0002", "sha256:nothex");
  write_file(s.keyset(), good + broken);
  const RunResult r = s.ctl(kSecret);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("key_broken0002"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(s.keyset()), good + broken);

  write_file(s.keyset(), good);  // removed again: a whole read, then the index
  for (int i = 0; i < 2; ++i) {
    const RunResult again = s.ctl(kSecret);
    ASSERT_EQ(again.exit_code, 0) << again.err;
  }
  const auto recs = s.records();
  ASSERT_EQ(recs.size(), 5u);
  ASSERT_EQ(s.ctl({"keys", "revoke", recs[1].id}).exit_code, 0);
  EXPECT_EQ(s.records()[1].status, sync::KeyStatus::Revoked);
  EXPECT_EQ(s.records()[2].status, sync::KeyStatus::Active);
}

// The first edit of a file checks every item's id and hash only (what the
// edit must not repeat): a record whose other fields do not load is kept
// byte for byte around the edit, and an edit of that record names it and
// its line.
TEST(KeysCreate, ARecordThatDoesNotLoadIsKeptAsItIsAndNamedWhenEdited) {
  Scratch s;
  const std::string bad = "keys:\n" + keyset_item("key_badtype0001", "sha256:" + std::string(64, 'a'), "admin");
  write_file(s.keyset(), bad);
  const RunResult r = s.ctl(kSecret);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(s.keyset()).substr(0, bad.size()), bad);
  const RunResult l = s.ctl({"keys", "list", "--all"});
  EXPECT_EQ(l.exit_code, 0);
  EXPECT_NE(l.err.find("key_badtype0001"), std::string::npos) << l.err;
  const RunResult rv = s.ctl({"keys", "revoke", "key_badtype0001"});
  EXPECT_EQ(rv.exit_code, 5) << rv.err;
  EXPECT_NE(rv.err.find(s.keyset() + ":5:"), std::string::npos) << rv.err;  // the `type:` line
  EXPECT_NE(rv.err.find("key_badtype0001"), std::string::npos) << rv.err;
  EXPECT_EQ(read_file(s.keyset()).substr(0, bad.size()), bad);
}

TEST(KeysCreate, KeysetIoErrorsExit5) {
  Scratch s;
  write_file(s.keyset(), "keys: [unclosed\n");
  EXPECT_EQ(s.ctl({"keys", "list"}).exit_code, 5);
  EXPECT_EQ(s.ctl(kSecret).exit_code, 5);
  // A keyset in a directory that does not exist: the lock file cannot be made.
  write_file(s.config(), "region: in-mum\nupstream:\n  file: " + s.dir() + "/missing/keys.yaml\n");
  const RunResult r = s.ctl(kSecret);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find(s.dir() + "/missing/keys.yaml"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace edgekey::ctl::test
