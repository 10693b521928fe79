// JSON codec of key records: round trip, field errors, hostile input.
#include "sync/record/record_json.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

namespace edgekey::sync {
namespace {

using testing::full_record;
using testing::minimal_record;

const char *kDesignExample = R"({
  "id": "key_2hT9cQ4mZ8",
  "hash": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  "workspace": "ws_solar", "name": "CI pipeline", "type": "secret", "env": "live",
  "role": "developer", "scopes": ["agents:deploy"], "regions": ["in-mum"],
  "allowed_origins": [], "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/32"],
  "created_at": "2026-11-22T10:00:00Z", "expires_at": null, "status": "active"})";

// The record of kDesignExample with one field set to raw JSON text: the
// field's value is replaced in place, or the field is appended. (A record
// naming a field twice is rejected, so appending a second one is no way to
// override it.) kDesignExample's values are strings, null and flat lists.
std::string with_field(const std::string &name, const std::string &json_value) {
  std::string base = kDesignExample;
  const std::string key = "\"" + name + "\": ";
  size_t at = base.find(key);
  if (at == std::string::npos) {
    base.pop_back();  // '}'
    return base + ", " + key + json_value + "}";
  }
  const size_t from = at + key.size();
  size_t to = from;
  if (base[from] == '"') to = base.find('"', from + 1) + 1;
  else if (base[from] == '[') to = base.find(']', from) + 1;
  else to = base.find_first_of(",}", from);
  return base.substr(0, from) + json_value + base.substr(to);
}

std::string error_of(std::string_view json) {
  auto r = decode_record_json(json);
  EXPECT_FALSE(r.ok()) << json;
  return r.error;
}

TEST(RecordJson, DecodesTheDesignExample) {
  auto r = decode_record_json(kDesignExample);
  ASSERT_TRUE(r.ok()) << r.error;
  const KeyRecord &k = *r.value;
  EXPECT_EQ(k.id, "key_2hT9cQ4mZ8");
  EXPECT_EQ(k.hash, testing::kHash);
  EXPECT_EQ(k.workspace, "ws_solar");
  EXPECT_EQ(k.name, "CI pipeline");
  EXPECT_EQ(k.type, KeyType::Secret);
  EXPECT_EQ(k.env, KeyEnv::Live);
  EXPECT_EQ(k.role, "developer");
  EXPECT_EQ(k.scopes, std::vector<std::string>{"agents:deploy"});
  EXPECT_EQ(k.regions, std::vector<std::string>{"in-mum"});
  EXPECT_TRUE(k.allowed_origins.empty());
  EXPECT_EQ(k.allowed_cidrs, (std::vector<std::string>{"203.0.113.0/24", "2001:db8::/32"}));
  EXPECT_EQ(k.created_at, testing::kCreated);
  EXPECT_FALSE(k.expires_at.has_value());
  EXPECT_EQ(k.status, KeyStatus::Active);
  EXPECT_FALSE(k.revoked_at.has_value());
  EXPECT_TRUE(k.rotated_from.empty());
  EXPECT_FALSE(k.origin_written_at.has_value());
}

TEST(RecordJson, RoundTripKeepsEveryField) {
  for (const KeyRecord &in : {full_record(), minimal_record()}) {
    std::string text = encode_record_json(in);
    auto out = decode_record_json(text);
    ASSERT_TRUE(out.ok()) << out.error << "\n" << text;
    EXPECT_EQ(*out.value, in) << text;
    EXPECT_EQ(encode_record_json(*out.value), text);
  }
}

TEST(RecordJson, EncodesNullsAndOrder) {
  std::string text = encode_record_json(minimal_record());
  EXPECT_NE(text.find("\"expires_at\":null"), std::string::npos) << text;
  EXPECT_NE(text.find("\"created_at\":null"), std::string::npos) << text;
  EXPECT_EQ(text.find("origin_written_at"), std::string::npos) << text;
  EXPECT_EQ(text.rfind("{\"id\":\"key_min\",\"hash\":", 0), 0u) << text;
  std::string full = encode_record_json(full_record());
  EXPECT_NE(full.find("\"origin_written_at\":1795341600123"), std::string::npos) << full;
  EXPECT_NE(full.find("\"expires_at\":\"2026-11-23T10:00:00Z\""), std::string::npos) << full;
}

TEST(RecordJson, ErrorNamesKeyFieldAndValue) {
  EXPECT_EQ(error_of(with_field("type", "\"admin\"")),
            "key key_2hT9cQ4mZ8: field \"type\": expected \"secret\" or \"publishable\", got \"admin\"");
  EXPECT_EQ(error_of(with_field("env", "\"prod\"")),
            "key key_2hT9cQ4mZ8: field \"env\": expected \"live\" or \"test\", got \"prod\"");
  EXPECT_EQ(error_of(with_field("status", "true")),
            "key key_2hT9cQ4mZ8: field \"status\": expected \"active\" or \"revoked\", got true");
  EXPECT_NE(error_of(with_field("allowed_cidrs", "[\"10.0.0.0/33\"]")).find("\"10.0.0.0/33\""),
            std::string::npos);
}

TEST(RecordJson, MissingRequiredFields) {
  for (const char *field : {"id", "hash", "workspace", "type", "env", "role", "status"}) {
    std::string text = kDesignExample;
    size_t at = text.find(std::string("\"") + field + "\":");
    ASSERT_NE(at, std::string::npos) << field;
    text.replace(at, 1 + strlen(field), std::string("\"x_") + field);  // rename it
    std::string err = error_of(text);
    EXPECT_NE(err.find(std::string("field \"") + field + "\": required"), std::string::npos) << err;
  }
  EXPECT_NE(error_of(with_field("id", "null")).find("field \"id\": required, got null"), std::string::npos);
}

TEST(RecordJson, WrongJsonTypes) {
  EXPECT_NE(error_of(with_field("id", "42")).find("field \"id\": expected a string, got 42"),
            std::string::npos);
  EXPECT_NE(error_of(with_field("scopes", "\"agents:read\"")).find("field \"scopes\": expected a list"),
            std::string::npos);
  EXPECT_NE(error_of(with_field("scopes", "[\"a\", 1]")).find("got 1 in it"), std::string::npos);
  EXPECT_NE(error_of(with_field("regions", "[[\"in-mum\"]]")).find("got a list in it"), std::string::npos);
  EXPECT_NE(error_of(with_field("name", "{}")).find("got a map"), std::string::npos);
  EXPECT_NE(error_of(with_field("expires_at", "1795341600")).find("field \"expires_at\": expected an RFC 3339"),
            std::string::npos);
  EXPECT_NE(error_of(with_field("expires_at", "\"tomorrow\"")).find("got \"tomorrow\""), std::string::npos);
  EXPECT_NE(error_of(with_field("origin_written_at", "\"123\"")).find("expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(with_field("origin_written_at", "1.5")).find("expected an integer, got 1.5"),
            std::string::npos);
  EXPECT_NE(error_of(with_field("origin_written_at", "-3")).find("origin_written_at"), std::string::npos);
}

TEST(RecordJson, NullOptionalFieldsAreAbsent) {
  for (const char *field : {"name", "scopes", "regions", "allowed_origins", "allowed_cidrs",
                            "created_at", "expires_at", "revoked_at", "rotated_from",
                            "origin_written_at"}) {
    auto r = decode_record_json(with_field(field, "null"));
    ASSERT_TRUE(r.ok()) << field << ": " << r.error;
  }
  auto r = decode_record_json(with_field("origin_written_at", "1795341600123"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->record().origin_written_at, 1795341600123);
}

TEST(RecordJson, UnknownFieldsAreIgnored) {
  std::string deep(1000, '[');
  deep += std::string(1000, ']');
  auto r = decode_record_json(with_field("future_field", "{\"a\": [1, {\"b\": null}], \"c\": " + deep + "}"));
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->record().id, "key_2hT9cQ4mZ8");
  // Nesting past the parser's depth bound (1024) is refused, whatever the field.
  std::string deeper = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_EQ(error_of(with_field("future_field", deeper)).rfind("key record: not JSON", 0), 0u);
}

TEST(RecordJson, AFieldGivenTwiceRejectsTheRecord) {
  // Readers that kept the first or the last value would disagree on, say,
  // the status: such a record is refused rather than read either way.
  std::string text = kDesignExample;
  text.pop_back();
  text += ", \"status\": \"revoked\"}";
  EXPECT_NE(error_of(text).find("field \"status\": given twice"), std::string::npos);
}

TEST(RecordJson, HashBecomesCanonical) {
  std::string upper = "\"sha256:9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08\"";
  std::string text = kDesignExample;
  text.replace(text.find("\"sha256:"), upper.size(), upper);
  auto r = decode_record_json(text);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.value->record().hash, testing::kHash);
}

TEST(RecordJson, RejectsWholeRecordsOnBadInput) {
  EXPECT_EQ(error_of("").rfind("key record: not JSON", 0), 0u);
  EXPECT_EQ(error_of("{").rfind("key record: not JSON", 0), 0u);
  EXPECT_EQ(error_of(std::string(kDesignExample) + " x").rfind("key record: not JSON", 0), 0u);
  EXPECT_EQ(error_of("[]"), "key record: expected a JSON object, got a list");
  EXPECT_EQ(error_of("\"key\""), "key record: expected a JSON object, got \"key\"");
  EXPECT_EQ(error_of(with_field("name", "\"\xff\xfe\"")).rfind("key record: not JSON", 0), 0u);
  std::string nested(100000, '[');
  EXPECT_EQ(error_of(nested).rfind("key record: not JSON", 0), 0u);
  std::string err = error_of(with_field("name", "\"a\\u0000b\""));
  EXPECT_NE(err.find("field \"name\""), std::string::npos) << err;
  // Error text never carries control characters into logs.
  err = error_of("{\"id\": \"key\\n\\u0007x\", \"hash\": 1}");
  for (char c : err) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << err;
}

TEST(RecordJson, EncodeNeverThrowsOnInvalidUtf8) {
  KeyRecord r = minimal_record();
  r.name = "bad \xff utf8";  // invalid, so decode will refuse it, but encoding must not throw
  std::string text;
  EXPECT_NO_THROW(text = encode_record_json(r));
  EXPECT_NE(text.find("bad "), std::string::npos);
}

}  // namespace
}  // namespace edgekey::sync
