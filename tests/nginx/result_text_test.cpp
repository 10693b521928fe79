// ek_result_json and ek_result_challenge (libedgekey's public C API): the one
// rendering of an answer that edgekeyd's /v1/validate and the nginx module
// (and the Lua binding's deny) send.
#include <edgekey/edgekey.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

ek_result keyed(int status, int code) {
  ek_result r{};
  r.status = status;
  r.code = code;
  strcpy(r.key_id, "key_2hT9cQ4mZ8");
  strcpy(r.workspace, "ws_solar");
  strcpy(r.role, "developer");
  r.type = EK_TYPE_SECRET;
  r.env = EK_ENV_LIVE;
  return r;
}

std::string json(const ek_result &r) {
  char buf[EK_RESULT_JSON_MAX];
  const size_t n = ek_result_json(&r, buf, sizeof buf);
  EXPECT_LT(n, sizeof buf);
  EXPECT_EQ(strlen(buf), n);
  return buf;
}

TEST(ResultJson, IsDesignMdsBodyWithKeyFieldsOnlyWhenAKeyWasFound) {
  EXPECT_EQ(json(keyed(403, EK_CODE_INSUFFICIENT_PERMISSION)),
            "{\"status\":403,\"code\":\"insufficient_permission\",\"key_id\":\"key_2hT9cQ4mZ8\","
            "\"workspace\":\"ws_solar\",\"type\":\"secret\",\"env\":\"live\",\"role\":\"developer\","
            "\"expires_at\":null}\n");
  ek_result r = keyed(200, EK_CODE_OK);
  r.expires_at = 1795341600;  // 2026-11-22T10:00:00Z
  r.type = EK_TYPE_PUBLISHABLE;
  r.env = EK_ENV_TEST;
  EXPECT_EQ(json(r),
            "{\"status\":200,\"code\":\"ok\",\"key_id\":\"key_2hT9cQ4mZ8\",\"workspace\":\"ws_solar\","
            "\"type\":\"publishable\",\"env\":\"test\",\"role\":\"developer\","
            "\"expires_at\":\"2026-11-22T10:00:00Z\"}\n");
  ek_result none{};
  none.status = 401;
  none.code = EK_CODE_MISSING_TOKEN;
  EXPECT_EQ(json(none), "{\"status\":401,\"code\":\"missing_token\"}\n");
}

TEST(ResultJson, EscapesQuotesBackslashesAndControlCharacters) {
  ek_result r = keyed(401, EK_CODE_REVOKED_KEY);
  strcpy(r.workspace, "a\"b\\c\x01\n");
  const std::string j = json(r);
  EXPECT_NE(j.find("\"workspace\":\"a\\\"b\\\\c\\u0001\\u000a\""), std::string::npos) << j;
}

TEST(ResultJson, ASmallBufferHoldsATruncatedTextAndTheWholeLengthIsReturned) {
  const ek_result r = keyed(403, EK_CODE_WRONG_ENV);
  const std::string whole = json(r);
  char small[16];
  memset(small, 'x', sizeof small);
  EXPECT_EQ(ek_result_json(&r, small, sizeof small), whole.size());
  EXPECT_EQ(std::string(small), whole.substr(0, sizeof small - 1));
  EXPECT_EQ(ek_result_json(&r, nullptr, 0), whole.size());  // a length query
}

TEST(ResultChallenge, FollowsRfc6750) {
  ek_result r{};
  r.status = 401;
  r.code = EK_CODE_MISSING_TOKEN;
  EXPECT_STREQ(ek_result_challenge(&r), "Bearer");
  for (int c : {EK_CODE_MALFORMED_TOKEN, EK_CODE_UNKNOWN_KEY, EK_CODE_REVOKED_KEY, EK_CODE_EXPIRED_KEY}) {
    r.code = c;
    EXPECT_STREQ(ek_result_challenge(&r), "Bearer error=\"invalid_token\"") << ek_code_name(c);
  }
  r.status = 403;
  r.code = EK_CODE_INSUFFICIENT_PERMISSION;
  EXPECT_STREQ(ek_result_challenge(&r), "Bearer error=\"insufficient_scope\"");
  for (int c : {EK_CODE_ORIGIN_NOT_ALLOWED, EK_CODE_IP_NOT_ALLOWED, EK_CODE_WRONG_ENV, EK_CODE_WRONG_REGION}) {
    r.code = c;
    EXPECT_EQ(ek_result_challenge(&r), nullptr) << ek_code_name(c);
  }
  r.status = 503;
  r.code = EK_CODE_KEYSET_STALE;
  EXPECT_EQ(ek_result_challenge(&r), nullptr);
  r.status = 200;
  r.code = EK_CODE_OK;
  EXPECT_EQ(ek_result_challenge(&r), nullptr);
}

}  // namespace
