// Every row of docs/design.md's validation table, through the public C and C++ API.
#include "table_fixture.hpp"

#include "shm/src/validator_state.hpp"

#include <edgekey/validator.hpp>

#include <cstdint>
#include <fstream>

using namespace edgekey;
using namespace edgekey::test;

namespace {

struct Validate : ::testing::Test {
  TableFixture t{"val"};
  ek_validator *v = nullptr;

  void open() { ASSERT_EQ(ek_open(t.name.c_str(), &v), 0); }
  void TearDown() override { ek_close(v); }

  ek_result check(const std::string &auth, const char *perm = nullptr, const char *ip = nullptr,
                  const char *origin = nullptr, const char *env = nullptr) {
    ek_request req{auth.c_str(), perm, ip, origin, env};
    ek_result r;
    EXPECT_EQ(ek_validate(v, &req, &r), 0);
    return r;
  }
  Minted add(Minted m) {
    EXPECT_EQ(t.writer->put(m.rec), shm::WriteError::None);
    return m;
  }
};

#define EXPECT_ANSWER(r, st, cd)                 \
  do {                                           \
    EXPECT_EQ((r).status, st);                   \
    EXPECT_STREQ(ek_code_name((r).code), cd);    \
  } while (0)

}  // namespace

TEST_F(Validate, OkWithMetadata) {
  Minted m = mint("key_2hT9cQ4mZ8");
  m.rec.expires_at = time(nullptr) + 3600;
  add(m);
  open();
  ek_result r = check("Bearer " + m.token, "chat:write");
  EXPECT_ANSWER(r, 200, "ok");
  EXPECT_STREQ(r.key_id, "key_2hT9cQ4mZ8");
  EXPECT_STREQ(r.workspace, "ws_solar");
  EXPECT_STREQ(r.role, "developer");
  EXPECT_EQ(r.type, EK_TYPE_SECRET);
  EXPECT_EQ(r.env, EK_ENV_LIVE);
  EXPECT_EQ(r.expires_at, m.rec.expires_at);
  EXPECT_ANSWER(check(m.token), 200, "ok");  // bare token, no permission needed
}

TEST_F(Validate, MissingToken) {
  add(mint("key_a"));
  open();
  ek_request req{};
  ek_result r;
  ASSERT_EQ(ek_validate(v, &req, &r), 0);
  EXPECT_ANSWER(r, 401, "missing_token");
  EXPECT_ANSWER(check(""), 401, "missing_token");
  EXPECT_ANSWER(check("Bearer   "), 401, "missing_token");
}

TEST_F(Validate, MalformedToken) {
  Minted m = add(mint("key_a"));
  open();
  std::string bad = m.token;
  bad.back() = bad.back() == 'x' ? 'y' : 'x';
  EXPECT_ANSWER(check("Bearer " + bad), 401, "malformed_token");
  EXPECT_ANSWER(check("Basic " + m.token), 401, "malformed_token");
  EXPECT_ANSWER(check("Bearer legacy-shaped-token"), 401, "malformed_token");
  EXPECT_STREQ(check("Bearer " + bad).key_id, "");
}

TEST_F(Validate, UnknownKey) {
  add(mint("key_a"));
  open();
  EXPECT_ANSWER(check("Bearer " + shm::generate_token("ek", "sk", "live")), 401, "unknown_key");
}

TEST_F(Validate, RevokedKeyAndRevocationOfALiveKey) {
  Minted m = add(mint("key_a"));
  open();
  EXPECT_ANSWER(check(m.token), 200, "ok");
  ASSERT_TRUE(t.writer->revoke(m.rec.hash));
  ek_result r = check(m.token);
  EXPECT_ANSWER(r, 401, "revoked_key");
  EXPECT_STREQ(r.key_id, "key_a");
  Minted n = mint("key_b");
  n.rec.revoked = true;
  add(n);
  EXPECT_ANSWER(check(n.token), 401, "revoked_key");
}

TEST_F(Validate, RemovedKeyIsUnknown) {
  Minted m = add(mint("key_a"));
  open();
  ASSERT_TRUE(t.writer->remove(m.rec.hash));
  EXPECT_ANSWER(check(m.token), 401, "unknown_key");
  EXPECT_FALSE(t.writer->remove(m.rec.hash));
  add(m);  // re-added into its tombstone
  EXPECT_ANSWER(check(m.token), 200, "ok");
}

TEST_F(Validate, ExpiredKey) {
  Minted past = mint("key_past");
  past.rec.expires_at = time(nullptr) - 5;
  add(past);
  Minted future = mint("key_future");
  future.rec.expires_at = time(nullptr) + 3600;
  add(future);
  open();
  EXPECT_ANSWER(check(past.token), 401, "expired_key");
  EXPECT_ANSWER(check(future.token), 200, "ok");
}

TEST_F(Validate, InsufficientPermission) {
  Minted m = add(mint("key_a"));  // chat:write, agents:read, agents:write
  open();
  EXPECT_ANSWER(check(m.token, "agents:write"), 200, "ok");
  EXPECT_ANSWER(check(m.token, "logs:read"), 403, "insufficient_permission");
  EXPECT_ANSWER(check(m.token, "no:such"), 403, "insufficient_permission");
  EXPECT_ANSWER(check(m.token, ""), 200, "ok");
}

TEST_F(Validate, PublishableKeyNeedsAnAllowedOrigin) {
  Minted m = mint("key_pk", "pk");
  m.rec.origins = {"https://app.example.com", "http://localhost:3000"};
  add(m);
  Minted none = mint("key_pk_noorigins", "pk");
  add(none);
  open();
  EXPECT_ANSWER(check(m.token, "chat:write", nullptr, "https://app.example.com"), 200, "ok");
  EXPECT_ANSWER(check(m.token, "chat:write", nullptr, "HTTPS://APP.example.com"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, "http://localhost:3000"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, "https://evil.example.com"), 403, "origin_not_allowed");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, nullptr), 403, "origin_not_allowed");
  EXPECT_ANSWER(check(none.token, nullptr, nullptr, "https://app.example.com"), 403,
                "origin_not_allowed");
}

TEST_F(Validate, IpAllowList) {
  Minted m = mint("key_ip");
  shm::Cidr a, b;
  ASSERT_TRUE(shm::parse_cidr("203.0.113.0/24", a));
  ASSERT_TRUE(shm::parse_cidr("2001:db8::/32", b));
  m.rec.cidrs = {a, b};
  add(m);
  open();
  EXPECT_ANSWER(check(m.token, nullptr, "203.0.113.50"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, "2001:db8:5::1"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, "::ffff:203.0.113.9"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, "198.51.100.1"), 403, "ip_not_allowed");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr), 403, "ip_not_allowed");
  EXPECT_ANSWER(check(m.token, nullptr, "not-an-ip"), 403, "ip_not_allowed");
}

TEST_F(Validate, WrongEnvAndWrongRegion) {
  Minted m = add(mint("key_live"));
  Minted far = mint("key_far");
  far.rec.wrong_region = true;
  add(far);
  open();
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, nullptr, "live"), 200, "ok");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, nullptr, "test"), 403, "wrong_env");
  EXPECT_ANSWER(check(m.token, nullptr, nullptr, nullptr, "prod"), 403, "wrong_env");
  EXPECT_ANSWER(check(far.token), 403, "wrong_region");
}

TEST_F(Validate, StalenessPolicy) {
  Minted m = add(mint("key_a"));
  t.writer->touch_contact(time(nullptr) - 120);  // 2 minutes of silence, bound 60 s
  open();
  EXPECT_ANSWER(check(m.token), 200, "ok");  // serve_stale
  shm::TableOptions o = t.writer->options();
  o.staleness_policy = shm::StalenessPolicy::FailClosed;
  t.writer->set_options(o);
  EXPECT_ANSWER(check(m.token), 503, "keyset_stale");
  t.writer->touch_contact(time(nullptr));
  EXPECT_ANSWER(check(m.token), 200, "ok");
}

// fuzz_segment finding: a control segment whose last_contact is INT64_MIN
// made `now - last_contact` overflow (UBSan). Any stored value is compared
// without arithmetic on it: the oldest possible contact is simply stale.
TEST_F(Validate, StalenessWithExtremeContactTimes) {
  Minted m = add(mint("key_a"));
  shm::TableOptions o = t.writer->options();
  o.staleness_policy = shm::StalenessPolicy::FailClosed;
  t.writer->set_options(o);
  open();
  t.writer->touch_contact(INT64_MIN);
  EXPECT_ANSWER(check(m.token), 503, "keyset_stale");
  t.writer->touch_contact(INT64_MIN + 1);
  EXPECT_ANSWER(check(m.token), 503, "keyset_stale");
  t.writer->touch_contact(time(nullptr));
  EXPECT_ANSWER(check(m.token), 200, "ok");
}

TEST(ValidateUnavailable, TableNeverLoaded) {
  TableFixture t("unloaded");
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(t.name.c_str(), &v), 0);
  std::string tok = "Bearer " + shm::generate_token("ek", "sk", "live");
  ek_request req{tok.c_str(), nullptr, nullptr, nullptr, nullptr};
  ek_result r;
  ASSERT_EQ(ek_validate(v, &req, &r), 0);
  EXPECT_EQ(r.status, 503);
  EXPECT_STREQ(ek_code_name(r.code), "keyset_unavailable");
  // The first load makes the same validator answer.
  Minted m = mint("key_a");
  t.writer->load({m.rec});
  req.authorization = m.token.c_str();
  ASSERT_EQ(ek_validate(v, &req, &r), 0);
  EXPECT_EQ(r.status, 200);
  ek_close(v);
}

TEST_F(Validate, LongIdsLiveInTheArena) {
  Minted m = mint(std::string("key_") + std::string(43, 'k'));
  m.rec.workspace = "ws_" + std::string(44, 'w');
  m.rec.origins = {"https://a.example"};
  add(m);
  open();
  ek_result r = check(m.token, nullptr, nullptr, "https://a.example");
  EXPECT_ANSWER(r, 200, "ok");
  EXPECT_EQ(std::string(r.key_id), m.rec.key_id);
  EXPECT_EQ(std::string(r.workspace), m.rec.workspace);
  Minted too_long = mint(std::string(48, 'k'));
  EXPECT_EQ(t.writer->put(too_long.rec), shm::WriteError::IdTooLong);
}

// Inline ids at every split of the slot's 56 bytes (and one past, in the
// arena): each result field holds exactly the id, NUL-padded to its end.
TEST_F(Validate, InlineIdsAtEveryLengthAreCopiedExactly) {
  std::vector<Minted> keys;
  for (size_t id_len = 1; id_len <= 47; id_len += 2) {
    for (size_t ws_len : {size_t(1), 56 - id_len, 57 - id_len}) {
      if (ws_len > 47 || ws_len == 0) continue;
      Minted m = mint(std::string(id_len, char('a' + id_len % 26)));
      m.rec.workspace = std::string(ws_len, char('A' + ws_len % 26));
      m.rec.role = uint8_t(keys.size() % 3);
      keys.push_back(add(m));
    }
  }
  open();
  const char *roles[] = {"developer", "owner", "viewer"};
  for (size_t k = 0; k < keys.size(); ++k) {
    const Minted &m = keys[k];
    ek_result r;
    std::memset(&r, 0x5a, sizeof r);  // what a caller's stack may hold
    ek_request req{m.token.c_str(), nullptr, nullptr, nullptr, nullptr};
    ASSERT_EQ(ek_validate(v, &req, &r), 0);
    EXPECT_ANSWER(r, 200, "ok");
    EXPECT_EQ(std::string(r.key_id), m.rec.key_id);
    EXPECT_EQ(std::string(r.workspace), m.rec.workspace);
    EXPECT_STREQ(r.role, roles[k % 3]);
    for (size_t i = m.rec.key_id.size(); i < sizeof r.key_id; ++i) EXPECT_EQ(r.key_id[i], 0) << k;
    for (size_t i = m.rec.workspace.size(); i < sizeof r.workspace; ++i) EXPECT_EQ(r.workspace[i], 0) << k;
    for (size_t i = strlen(roles[k % 3]); i < sizeof r.role; ++i) EXPECT_EQ(r.role[i], 0) << k;
  }
}

TEST_F(Validate, GrowthKeepsEveryKeyAndSwitchesGeneration) {
  std::vector<Minted> keys;
  for (int i = 0; i < 50; ++i) keys.push_back(add(mint("key_" + std::to_string(i))));
  open();
  uint64_t gen0 = v->generation();
  for (int i = 50; i < 400; ++i) keys.push_back(add(mint("key_" + std::to_string(i))));
  EXPECT_GT(t.writer->stats().capacity, 400u);
  for (auto &k : keys) {
    ek_result r = check(k.token);
    ASSERT_EQ(r.status, 200) << k.rec.key_id;
    ASSERT_EQ(std::string(r.key_id), k.rec.key_id);
  }
  EXPECT_GT(v->generation(), gen0);
  // The superseded segment is gone from /dev/shm.
  EXPECT_EQ(access(("/dev/shm/" + t.name + ".g" + std::to_string(gen0)).c_str(), F_OK), -1);
}

TEST_F(Validate, LoadReplacesTheWholeSet) {
  Minted a = add(mint("key_a"));
  Minted b = mint("key_b");
  open();
  t.writer->load({b.rec});
  EXPECT_ANSWER(check(a.token), 401, "unknown_key");
  EXPECT_ANSWER(check(b.token), 200, "ok");
}

TEST(ValidateLegacy, LegacyTokensByHashWhenAllowed) {
  auto opts = [](const std::string &name) {
    shm::TableOptions o = test_options(name);
    o.legacy_tokens = true;
    return o;
  };
  TableFixture t("legacy", opts);
  Minted m = mint("key_legacy");
  m.token = "sk-live-0123456789abcdefghij";
  shm::TokenHasher().hash(m.token, m.rec.hash.data());
  ASSERT_EQ(t.writer->put(m.rec), shm::WriteError::None);
  auto v = Validator::open(t.name.c_str());
  ASSERT_TRUE(v) << Validator::error_text(v.error());
  Result r = v.validate("Bearer " + m.token);
  EXPECT_TRUE(r.ok()) << r.code_name();
  EXPECT_STREQ(r.key_id, "key_legacy");
  EXPECT_STREQ(v.validate("Bearer sk-live-unknown").code_name(), "unknown_key");
}

TEST(ValidatePepper, HmacDeploymentAndAWrongPepperFile) {
  static std::string pepper_path = testing::TempDir() + "/edgekey-pepper-" + std::to_string(getpid());
  std::ofstream(pepper_path) << "an-hmac-pepper-of-enough-length\n";
  auto opts = [](const std::string &name) {
    shm::TableOptions o = test_options(name);
    o.pepper_path = pepper_path;
    return o;
  };
  TableFixture t("pepper", opts);
  shm::TokenHasher h("an-hmac-pepper-of-enough-length");
  Minted m = mint("key_h", "sk", "live", h);
  ASSERT_EQ(t.writer->put(m.rec), shm::WriteError::None);
  {
    auto v = Validator::open(t.name.c_str());
    ASSERT_TRUE(v) << Validator::error_text(v.error());
    EXPECT_TRUE(v.validate(m.token).ok());
  }
  std::ofstream(pepper_path) << "a-different-pepper-entirely-here\n";
  auto v = Validator::open(t.name.c_str());
  EXPECT_FALSE(v);
  EXPECT_EQ(v.error(), EK_ERR_PEPPER);
  unlink(pepper_path.c_str());
}

TEST(ValidateApi, ErrorsAndNames) {
  ek_validator *v = nullptr;
  EXPECT_EQ(ek_open(nullptr, &v), EK_ERR_INVALID_ARG);
  EXPECT_EQ(ek_open("", &v), EK_ERR_INVALID_ARG);
  EXPECT_EQ(ek_open("ektest-does-not-exist", &v), EK_ERR_NO_TABLE);
  EXPECT_EQ(v, nullptr);
  EXPECT_EQ(ek_validate(nullptr, nullptr, nullptr), EK_ERR_INVALID_ARG);
  EXPECT_STREQ(ek_code_name(EK_CODE_REVOKED_KEY), "revoked_key");
  EXPECT_STREQ(ek_code_name(999), "unknown_code");
  EXPECT_EQ(ek_code_status(EK_CODE_ORIGIN_NOT_ALLOWED), 403);
  EXPECT_EQ(ek_code_status(EK_CODE_KEYSET_STALE), 503);
  EXPECT_EQ(ek_code_status(-1), 0);
  EXPECT_NE(std::string(ek_strerror(EK_ERR_ACCESS)).find("readers group"), std::string::npos);
  EXPECT_STREQ(ek_type_name(EK_TYPE_PUBLISHABLE), "publishable");
  EXPECT_STREQ(ek_env_name(EK_ENV_TEST), "test");
}
