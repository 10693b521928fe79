// Resolution of key records into table records.
#include "sync/record/resolve.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/table_writer.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

namespace edgekey::sync {
namespace {

using testing::compiled;
using testing::minimal_record;

// Validation, then resolution: a rule broken fails with validation's line.
Expected<shm::TableRecord> resolve(const KeyRecord &r, const PolicySpec &p) {
  Expected<ValidRecord> v = validate(KeyRecord(r));
  if (!v.ok()) return Expected<shm::TableRecord>::failure(v.error);
  return Resolver(compiled(p)).resolve(*v.value);
}

// the design's default roles.
PolicySpec design_policy() {
  PolicySpec p;
  p.permissions = {"chat:write",       "agents:read",    "agents:write", "agents:deploy", "logs:read",
                   "evaluations:read", "analytics:read", "keys:manage",  "billing:manage"};
  p.publishable = {"chat:write"};
  p.roles = {{"owner", {"*"}},
             {"developer", {"agents:read", "agents:write", "agents:deploy", "chat:write", "logs:read"}},
             {"analyst", {"agents:read", "evaluations:read", "analytics:read"}},
             {"viewer", {"agents:read"}}};
  p.region = "in-mum";
  return p;
}

uint64_t bits(const PolicySpec &p, std::initializer_list<const char *> names) {
  uint64_t b = 0;
  for (const char *n : names)
    for (size_t i = 0; i < p.permissions.size(); ++i)
      if (p.permissions[i] == n) b |= uint64_t{1} << i;
  return b;
}

shm::TableRecord must_resolve(const KeyRecord &r, const PolicySpec &p = design_policy()) {
  auto res = resolve(r, p);
  EXPECT_TRUE(res.ok()) << res.error;
  return res.ok() ? *res.value : shm::TableRecord{};
}

TEST(Resolve, RoleNamesAreSortedAndFeedTableOptions) {
  PolicySpec p = design_policy();
  const Policy policy = compiled(p);
  EXPECT_EQ(policy.role_names(), (std::vector<std::string>{"analyst", "developer", "owner", "viewer"}));
  shm::TableOptions opts;
  policy.apply_to(opts);
  EXPECT_EQ(opts.roles, policy.role_names());
  EXPECT_EQ(opts.permissions, p.permissions);
  Resolver resolver(policy);
  for (size_t i = 0; i < opts.roles.size(); ++i) {
    KeyRecord r = minimal_record();
    r.role = opts.roles[i];
    auto t = resolver.resolve(testing::valid(r));
    ASSERT_TRUE(t.ok()) << t.error;
    EXPECT_EQ(t.value->role, i) << opts.roles[i];
  }
}

TEST(Resolve, PermissionsAreRoleUnionScopes) {
  PolicySpec p = design_policy();
  KeyRecord r = minimal_record();
  r.role = "analyst";
  r.scopes = {"logs:read", "agents:read"};
  EXPECT_EQ(must_resolve(r).perms,
            bits(p, {"agents:read", "evaluations:read", "analytics:read", "logs:read"}));
  r.scopes.clear();
  EXPECT_EQ(must_resolve(r).perms, bits(p, {"agents:read", "evaluations:read", "analytics:read"}));
  r.role = "viewer";
  r.scopes = {"billing:manage"};
  EXPECT_EQ(must_resolve(r).perms, bits(p, {"agents:read", "billing:manage"}));
}

TEST(Resolve, StarMeansEveryPermission) {
  KeyRecord r = minimal_record();
  r.role = "owner";
  EXPECT_EQ(must_resolve(r).perms, 0x1ffu);  // 9 permissions
  PolicySpec p64 = design_policy();
  p64.permissions.clear();
  for (int i = 0; i < 64; ++i) p64.permissions.push_back("p" + std::to_string(i));
  p64.publishable = {"p63"};
  p64.roles = {{"owner", {"*"}}, {"developer", {"p0"}}};
  EXPECT_EQ(must_resolve(r, p64).perms, ~uint64_t{0});
}

TEST(Resolve, PublishableKeysAreCapped) {
  PolicySpec p = design_policy();
  KeyRecord r = minimal_record();
  r.type = KeyType::Publishable;
  r.allowed_origins = {"https://app.example.com"};
  r.role = "owner";
  r.scopes = {"keys:manage"};
  shm::TableRecord t = must_resolve(r);
  EXPECT_EQ(t.perms, bits(p, {"chat:write"}));
  EXPECT_EQ(t.type, EK_TYPE_PUBLISHABLE);
  r.role = "viewer";
  r.scopes.clear();
  EXPECT_EQ(must_resolve(r).perms, 0u);
  r.scopes = {"chat:write"};
  EXPECT_EQ(must_resolve(r).perms, bits(p, {"chat:write"}));
}

TEST(Resolve, UnknownRoleOrScopeIsNamed) {
  KeyRecord r = minimal_record("key_x");
  r.role = "admin";
  auto res = resolve(r, design_policy());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error.rfind("key key_x: field \"role\": unknown role \"admin\"", 0), 0u) << res.error;
  EXPECT_NE(res.error.find("analyst, developer, owner, viewer"), std::string::npos) << res.error;

  r = minimal_record("key_y");
  r.scopes = {"agents:read", "agents:delete"};
  res = resolve(r, design_policy());
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error, "key key_y: field \"scopes\": unknown permission \"agents:delete\"");

  r.scopes = {"*"};
  res = resolve(r, design_policy());
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error.find("only in roles"), std::string::npos) << res.error;
}

TEST(Resolve, Regions) {
  KeyRecord r = minimal_record();
  EXPECT_FALSE(must_resolve(r).wrong_region);  // empty = every region
  r.regions = {"in-mum"};
  EXPECT_FALSE(must_resolve(r).wrong_region);
  r.regions = {"eu-fra"};
  EXPECT_TRUE(must_resolve(r).wrong_region);
  r.regions = {"eu-fra", "in-mum"};
  EXPECT_FALSE(must_resolve(r).wrong_region);
}

TEST(Resolve, CopiesStatusExpiryIdsAndAllowLists) {
  KeyRecord r = minimal_record("key_full");
  r.env = KeyEnv::Test;
  r.allowed_origins = {"https://app.example.com"};
  r.allowed_cidrs = {"203.0.113.0/24", "2001:db8::/32"};
  shm::TableRecord t = must_resolve(r);
  EXPECT_FALSE(t.revoked);
  EXPECT_EQ(t.expires_at, 0);
  EXPECT_EQ(t.key_id, "key_full");
  EXPECT_EQ(t.workspace, "ws_solar");
  EXPECT_EQ(t.type, EK_TYPE_SECRET);
  EXPECT_EQ(t.env, EK_ENV_TEST);
  EXPECT_EQ(t.origins, r.allowed_origins);
  ASSERT_EQ(t.cidrs.size(), 2u);
  EXPECT_EQ(shm::cidr_to_text(t.cidrs[0]), "203.0.113.0/24");
  EXPECT_EQ(shm::cidr_to_text(t.cidrs[1]), "2001:db8::/32");
  EXPECT_EQ(t.hash[0], 0x9f);
  EXPECT_EQ(t.hash[31], 0x08);

  r.status = KeyStatus::Revoked;
  r.expires_at = testing::kCreated;
  t = must_resolve(r);
  EXPECT_TRUE(t.revoked);
  EXPECT_EQ(t.expires_at, testing::kCreated);
}

TEST(Resolve, HashSchemeMustMatchTheDeployment) {
  PolicySpec p = design_policy();
  p.hash_scheme = HashScheme::HmacSha256;
  auto res = resolve(minimal_record(), p);
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error.find("field \"hash\": expected a hmac-sha256 hash"), std::string::npos) << res.error;
  KeyRecord r = minimal_record();
  r.hash = "hmac-sha256:" + std::string(64, 'c');
  EXPECT_TRUE(resolve(r, p).ok());
  p.hash_scheme.reset();
  EXPECT_TRUE(resolve(r, p).ok());
}

TEST(Resolve, InvalidRecordsAreRefused) {
  KeyRecord r = minimal_record("key_bad");
  r.allowed_cidrs = {"300.0.0.0/8"};
  auto res = resolve(r, design_policy());
  ASSERT_FALSE(res.ok());
  EXPECT_NE(res.error.find("key key_bad: field \"allowed_cidrs\""), std::string::npos) << res.error;
}

TEST(Policy, CheckNamesTheProblem) {
  EXPECT_EQ(check_policy(design_policy()), "");
  PolicySpec p = design_policy();
  p.roles["developer"].push_back("agents:delete");
  EXPECT_NE(check_policy(p).find("\"agents:delete\" is not one of the permissions"), std::string::npos);
  p = design_policy();
  p.publishable = {"keys:nope"};
  EXPECT_NE(check_policy(p).find("publishable"), std::string::npos);
  p = design_policy();
  p.permissions.push_back("chat:write");
  EXPECT_NE(check_policy(p).find("listed twice"), std::string::npos);
  p = design_policy();
  for (int i = 0; i < 56; ++i) p.permissions.push_back("x" + std::to_string(i));
  EXPECT_NE(check_policy(p).find("1 to 64"), std::string::npos);
  p = design_policy();
  p.roles.clear();
  EXPECT_NE(check_policy(p).find("roles"), std::string::npos);
  p = design_policy();
  p.roles[std::string(32, 'r')] = {};
  EXPECT_NE(check_policy(p).find("1 to 31"), std::string::npos);

  p = design_policy();
  p.publishable = {"nope"};
  const auto made = Policy::make(p);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.error, check_policy(p));
}

// The resolved record is storable as is, and reads back the same.
TEST(Resolve, TableWriterStoresTheResult) {
  PolicySpec p = design_policy();
  shm::TableOptions opts;
  opts.name = "ek-sync-test-" + std::to_string(getpid());
  opts.capacity = 64;
  compiled(p).apply_to(opts);
  shm::TableWriter::destroy(opts.name);
  {
    shm::TableWriter w(opts);
    KeyRecord r = minimal_record("key_stored");
    r.type = KeyType::Publishable;
    r.allowed_origins = {"https://app.example.com"};
    r.allowed_cidrs = {"10.0.0.0/8"};
    r.regions = {"eu-fra"};
    r.expires_at = testing::kCreated;
    shm::TableRecord t = must_resolve(r, p);
    ASSERT_EQ(w.put(t), shm::WriteError::None);
    auto back = w.get(t.hash);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(back->key_id, "key_stored");
    EXPECT_EQ(back->role, t.role);
    EXPECT_EQ(back->perms, t.perms);
    EXPECT_EQ(back->type, EK_TYPE_PUBLISHABLE);
    EXPECT_TRUE(back->wrong_region);
    EXPECT_EQ(back->expires_at, testing::kCreated);
    EXPECT_EQ(back->origins, r.allowed_origins);
  }
  shm::TableWriter::destroy(opts.name);
}

}  // namespace
}  // namespace edgekey::sync
