// edgekeyctl keys list / show / revoke / rotate against a keyset file.
#include "harness.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <ctime>

namespace edgekey::ctl::test {
namespace {

struct Created {
  std::string id, token;
};

Created create(const Scratch &s, std::vector<std::string> extra = {}, const std::string &workspace = "ws_solar") {
  std::vector<std::string> args = {"--json", "keys", "create", "--workspace", workspace, "--type", "secret",
                                   "--env", "live", "--role", "developer"};
  args.insert(args.end(), extra.begin(), extra.end());
  const RunResult r = s.ctl(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  return {j.at("id"), j.at("token")};
}

const sync::KeyRecord *find(const std::vector<sync::KeyRecord> &recs, const std::string &id) {
  for (const auto &r : recs)
    if (r.id == id) return &r;
  return nullptr;
}

// The ids in a `keys list` table (first column, header skipped).
std::vector<std::string> listed(const std::string &table) {
  std::vector<std::string> ids;
  size_t at = table.find('\n');
  while (at != std::string::npos && at + 1 < table.size()) {
    const size_t end = table.find('\n', at + 1);
    ids.push_back(table.substr(at + 1, table.find(' ', at + 1) - at - 1));
    at = end;
  }
  return ids;
}

TEST(KeysList, ActiveByDefaultEverythingWithAll) {
  Scratch s;
  const Created a = create(s), b = create(s, {}, "ws_moon"), c = create(s);
  ASSERT_EQ(s.ctl({"keys", "revoke", c.id}).exit_code, 0);

  const RunResult active = s.ctl({"keys", "list"});
  ASSERT_EQ(active.exit_code, 0) << active.err;
  EXPECT_EQ(active.out.rfind("ID ", 0), 0u) << active.out;
  EXPECT_EQ(listed(active.out), (std::vector<std::string>{b.id, a.id}));  // ws_moon sorts first

  const RunResult all = s.ctl({"keys", "list", "--all"});
  EXPECT_EQ(listed(all.out), (std::vector<std::string>{b.id, a.id, c.id}));
  EXPECT_NE(all.out.find("revoked"), std::string::npos);

  EXPECT_EQ(listed(s.ctl({"keys", "list", "--workspace", "ws_moon", "--all"}).out), std::vector<std::string>{b.id});

  const RunResult js = s.ctl({"keys", "list", "--all", "--json"});
  ASSERT_EQ(js.exit_code, 0);
  const auto j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j.at("keys").size(), 3u);
  EXPECT_EQ(j["keys"][2].at("status"), "revoked");
  EXPECT_EQ(js.out.find(a.token), std::string::npos);

  Scratch empty;
  const RunResult none = empty.ctl({"keys", "list"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "no keys\n");
  EXPECT_EQ(nlohmann::json::parse(empty.ctl({"--json", "keys", "list"}).out), nlohmann::json::parse(R"({"keys":[]})"));
}

TEST(KeysShow, RecordWithShortHashAndNoToken) {
  Scratch s;
  const Created k = create(s, {"--name", "CI pipeline", "--allow-cidr", "10.0.0.0/8"});
  const std::string hex = sha256_hex(k.token);
  const RunResult r = s.ctl({"keys", "show", k.id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(labelled(r.out, "id"), k.id);
  EXPECT_EQ(labelled(r.out, "name"), "CI pipeline");
  EXPECT_EQ(labelled(r.out, "allowed_cidrs"), "10.0.0.0/8");
  EXPECT_EQ(labelled(r.out, "hash"), "sha256:" + hex.substr(0, 8) + "\u2026");
  EXPECT_EQ(labelled(r.out, "status"), "active");
  EXPECT_EQ(r.out.find(hex), std::string::npos);
  EXPECT_EQ(r.out.find(k.token), std::string::npos);

  const RunResult js = s.ctl({"keys", "show", k.id, "--json"});
  ASSERT_EQ(js.exit_code, 0);
  const auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j.at("id"), k.id);
  EXPECT_EQ(j.at("name"), "CI pipeline");
  EXPECT_EQ(j.at("expires_at"), nullptr);
  EXPECT_EQ(js.out.find(k.token), std::string::npos);
}

TEST(KeysShow, UnknownIdExits3) {
  Scratch s;
  create(s);
  for (const std::vector<std::string> &args : {std::vector<std::string>{"keys", "show", "key_nope"},
                                               {"keys", "revoke", "key_nope"},
                                               {"keys", "rotate", "key_nope", "--grace", "1h"}}) {
    const RunResult r = s.ctl(args);
    EXPECT_EQ(r.exit_code, 3) << args[1];
    EXPECT_NE(r.err.find("no key with id \"key_nope\" in the keyset file " + s.keyset()), std::string::npos) << r.err;
  }
  EXPECT_EQ(s.records().size(), 1u);
}

TEST(KeysRevoke, RevokesOnceAndIsIdempotent) {
  Scratch s;
  const Created k = create(s), other = create(s);
  const int64_t before = std::time(nullptr);
  const RunResult r = s.ctl({"keys", "revoke", k.id});
  const int64_t after = std::time(nullptr);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("revoked " + k.id, 0), 0u) << r.out;
  auto recs = s.records();
  ASSERT_EQ(recs.size(), 2u);
  const sync::KeyRecord *rk = find(recs, k.id);
  ASSERT_TRUE(rk && rk->revoked_at);
  EXPECT_EQ(rk->status, sync::KeyStatus::Revoked);
  EXPECT_GE(*rk->revoked_at, before);
  EXPECT_LE(*rk->revoked_at, after);
  EXPECT_EQ(find(recs, other.id)->status, sync::KeyStatus::Active);

  const std::string file = read_file(s.keyset());
  const RunResult again = s.ctl({"keys", "revoke", k.id});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already revoked"), std::string::npos) << again.out;
  EXPECT_EQ(read_file(s.keyset()), file);  // nothing rewritten

  const RunResult js = s.ctl({"--json", "keys", "revoke", k.id});
  EXPECT_EQ(js.exit_code, 0);
  const auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j.at("already_revoked"), true);
  EXPECT_EQ(j.at("record").at("status"), "revoked");
}

TEST(KeysRotate, NewKeyCopiesTheOldAndOldExpiresAfterGrace) {
  Scratch s;
  const Created old = create(s, {"--scope", "billing:manage", "--region", "in-mum", "--allow-cidr", "10.0.0.0/8",
                                 "--name", "CI pipeline"});
  const int64_t before = std::time(nullptr);
  const RunResult r = s.ctl({"keys", "rotate", old.id, "--grace", "24h"});
  const int64_t after = std::time(nullptr);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string id = labelled(r.out, "id"), token = labelled(r.out, "token");
  ASSERT_FALSE(token.empty()) << r.out;
  EXPECT_NE(id, old.id);
  EXPECT_EQ(count_of(r.out, token), 1u);

  const auto recs = s.records();
  ASSERT_EQ(recs.size(), 2u);
  const sync::KeyRecord *o = find(recs, old.id), *n = find(recs, id);
  ASSERT_TRUE(o && n);
  EXPECT_EQ(n->rotated_from, old.id);
  EXPECT_EQ(n->hash, "sha256:" + sha256_hex(token));
  EXPECT_EQ(n->workspace, o->workspace);
  EXPECT_EQ(n->type, o->type);
  EXPECT_EQ(n->env, o->env);
  EXPECT_EQ(n->role, o->role);
  EXPECT_EQ(n->scopes, o->scopes);
  EXPECT_EQ(n->regions, o->regions);
  EXPECT_EQ(n->allowed_cidrs, o->allowed_cidrs);
  EXPECT_EQ(n->name, "CI pipeline");
  EXPECT_FALSE(n->expires_at);
  EXPECT_EQ(n->status, sync::KeyStatus::Active);
  EXPECT_EQ(o->status, sync::KeyStatus::Active);  // still works during the grace period
  ASSERT_TRUE(o->expires_at);
  EXPECT_GE(*o->expires_at, before + 86400);
  EXPECT_LE(*o->expires_at, after + 86400);
  EXPECT_EQ(o->hash, "sha256:" + sha256_hex(old.token));
  EXPECT_EQ(s.all_files().find(token), std::string::npos);
}

TEST(KeysRotate, NeverExtendsAnEarlierExpiry) {
  Scratch s;
  const Created old = create(s, {"--expires", "1h"});
  const auto expiry = s.records().at(0).expires_at;
  ASSERT_TRUE(expiry);
  ASSERT_EQ(s.ctl({"keys", "rotate", old.id, "--grace", "24h"}).exit_code, 0);
  EXPECT_EQ(find(s.records(), old.id)->expires_at, expiry);
}

TEST(KeysRotate, JsonAndPublishableKeysKeepTheirOrigins) {
  Scratch s;
  const RunResult c = s.ctl({"--json", "keys", "create", "--workspace", "w", "--type", "publishable", "--env",
                             "test", "--role", "viewer", "--allow-origin", "https://app.example.com"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const std::string old_id = nlohmann::json::parse(c.out).at("id");
  const RunResult r = s.ctl({"--json", "keys", "rotate", old_id, "--grace", "0s", "--expires", "30d"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string token = j.at("token");
  EXPECT_EQ(token.rfind("ek_pk_test_", 0), 0u);
  EXPECT_EQ(j.at("record").at("rotated_from"), old_id);
  EXPECT_EQ(j.at("record").at("allowed_origins"), nlohmann::json::array({"https://app.example.com"}));
  EXPECT_TRUE(j.at("record").at("expires_at").is_string());
  EXPECT_EQ(j.at("previous").at("id"), old_id);
  EXPECT_EQ(j.at("previous").at("expires_at"), j.at("record").at("created_at"));  // grace 0s: now
  EXPECT_EQ(find(s.records(), j.at("id"))->hash, "sha256:" + sha256_hex(token));
}

TEST(KeysRotate, RevokedKeyAndBadGraceAreRefused) {
  Scratch s;
  const Created k = create(s);
  EXPECT_EQ(s.ctl({"keys", "rotate", k.id}).exit_code, 2);  // --grace is required
  const RunResult bad = s.ctl({"keys", "rotate", k.id, "--grace", "1 day"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--grace \"1 day\""), std::string::npos) << bad.err;
  ASSERT_EQ(s.ctl({"keys", "revoke", k.id}).exit_code, 0);
  const RunResult r = s.ctl({"keys", "rotate", k.id, "--grace", "1h"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is revoked and cannot be rotated"), std::string::npos) << r.err;
  EXPECT_EQ(s.records().size(), 1u);
}

TEST(KeysRotate, RoleRemovedFromConfigIsRefusedNamingIt) {
  Scratch s;
  const Created k = create(s);
  s.write_config("roles:\n  owner: [\"*\"]\n  viewer: [agents:read]\n");
  const RunResult r = s.ctl({"keys", "rotate", k.id, "--grace", "1h"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("role \"developer\" is not in " + s.config() + " (roles: owner, viewer)"), std::string::npos)
      << r.err;
  EXPECT_EQ(s.records().size(), 1u);
  EXPECT_FALSE(s.records()[0].expires_at);
}

}  // namespace
}  // namespace edgekey::ctl::test
