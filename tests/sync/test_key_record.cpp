// Validation rules of a key record, and its text forms (time, hash, origin).
#include "sync/record/key_record.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <functional>

namespace edgekey::sync {
namespace {

using testing::full_record;
using testing::minimal_record;

// The field validate_record() names, or "" when the record is valid.
std::string failing_field(const KeyRecord &r) {
  auto e = validate_record(r);
  return e ? e->field : "";
}

std::string failing_field(std::function<void(KeyRecord &)> mutate) {
  KeyRecord r = minimal_record();
  mutate(r);
  return failing_field(r);
}

TEST(Validate, MinimalAndFullRecordsAreValid) {
  EXPECT_EQ(failing_field(minimal_record()), "");
  EXPECT_EQ(failing_field(full_record()), "");
}

TEST(Validate, Id) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = ""; }), "id");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = "legacy-42"; }), "");  // no key_ prefix: fine
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = std::string(47, 'k'); }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = std::string(48, 'k'); }), "id");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = "key_\n1"; }), "id");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = std::string("key_\0x", 6); }), "id");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.id = "key_\xff"; }), "id");
}

TEST(Validate, Workspace) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.workspace = ""; }), "workspace");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.workspace = std::string(47, 'w'); }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.workspace = std::string(48, 'w'); }), "workspace");
}

TEST(Validate, Hash) {
  const std::string hex(64, 'a');
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "sha256:" + hex; }), "");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "hmac-sha256:" + hex; }), "");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "sha256:" + std::string(64, 'F'); }), "");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = hex; }), "hash");  // bare hex
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "sha256:" + hex.substr(1); }), "hash");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "sha256:" + hex + "a"; }), "hash");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "sha256:" + std::string(63, 'a') + "g"; }),
            "hash");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = "md5:" + hex; }), "hash");
  EXPECT_EQ(failing_field([&](KeyRecord &r) { r.hash = ""; }), "hash");
}

TEST(Validate, Enums) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.type = static_cast<KeyType>(7); }), "type");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.env = static_cast<KeyEnv>(0); }), "env");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.status = static_cast<KeyStatus>(9); }), "status");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.env = KeyEnv::Test; }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.status = KeyStatus::Revoked; }), "");
}

TEST(Validate, PublishableNeedsAnOrigin) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.type = KeyType::Publishable; }), "allowed_origins");
  EXPECT_EQ(failing_field([](KeyRecord &r) {
              r.type = KeyType::Publishable;
              r.allowed_origins = {"https://app.example.com"};
            }),
            "");
}

TEST(Validate, Role) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.role = ""; }), "role");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.role = std::string(31, 'r'); }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.role = std::string(32, 'r'); }), "role");
}

TEST(Validate, ScopesAndRegions) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.scopes = {"agents:read", ""}; }), "scopes");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.regions = {""}; }), "regions");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.regions = {"in\tmum"}; }), "regions");
}

TEST(Validate, Origins) {
  for (const char *good : {"https://app.example.com", "http://localhost:3000", "https://[2001:db8::1]:8443",
                           "http://127.0.0.1", "chrome-extension://abcdefgh", "HTTPS://App.Example.COM",
                           "https://a.example.com:65535"}) {
    EXPECT_TRUE(check_origin(good)) << good;
    EXPECT_EQ(failing_field([&](KeyRecord &r) { r.allowed_origins = {good}; }), "") << good;
  }
  for (const char *bad :
       {"app.example.com", "https://app.example.com/", "https://app.example.com/path", "https://",
        "https://a.example.com:", "https://a.example.com:0", "https://a.example.com:65536",
        "https://a.example.com:+80", "https://user@a.example.com", "https://a.example.com?x=1",
        "https://a.example.com#f", "https://[::1", "https://[zz::1]", "https://[::1]x",
        "https://ex ample.com", "://a.example.com", "1http://a.example.com", "null", "*",
        "https://*.example.com", ""}) {
    std::string why;
    EXPECT_FALSE(check_origin(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
    EXPECT_EQ(failing_field([&](KeyRecord &r) { r.allowed_origins = {bad}; }), "allowed_origins") << bad;
  }
  EXPECT_FALSE(check_origin("https://" + std::string(1020, 'a')));
}

TEST(Validate, Cidrs) {
  for (const char *good : {"203.0.113.0/24", "2001:db8::/32", "10.0.0.1", "::/0", "0.0.0.0/0",
                           "::ffff:192.0.2.1"})
    EXPECT_EQ(failing_field([&](KeyRecord &r) { r.allowed_cidrs = {good}; }), "") << good;
  for (const char *bad : {"203.0.113.0/33", "2001:db8::/129", "not-an-ip", "10.0.0.0/",
                          "10.0.0.0/24/1", "[::1]/128", "10.0.0.0/-1", ""})
    EXPECT_EQ(failing_field([&](KeyRecord &r) { r.allowed_cidrs = {bad}; }), "allowed_cidrs") << bad;
}

TEST(Validate, AllowListSizes) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.allowed_origins.assign(256, "https://a.example.com"); }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.allowed_origins.assign(257, "https://a.example.com"); }),
            "allowed_origins");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.allowed_cidrs.assign(256, "10.0.0.0/8"); }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.allowed_cidrs.assign(257, "10.0.0.0/8"); }), "allowed_cidrs");
}

TEST(Validate, Timestamps) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.expires_at = 0; }), "expires_at");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.expires_at = -5; }), "expires_at");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.expires_at = 1; }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.created_at = 0; }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.created_at = kMaxUnixTime + 1; }), "created_at");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.revoked_at = -1; }), "revoked_at");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.origin_written_at = -1; }), "origin_written_at");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.origin_written_at = 0; }), "");
}

TEST(Validate, TextIsUtf8WithoutControls) {
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "Caf\xc3\xa9 \xe2\x98\x95 \xf0\x9f\x98\x80"; }), "");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "bell\a"; }), "name");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "\xc0\xaf"; }), "name");          // overlong
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "\xed\xa0\x80"; }), "name");      // surrogate
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "\xe2\x82"; }), "name");          // truncated
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.name = "\xf4\x90\x80\x80"; }), "name");  // > U+10FFFF
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.rotated_from = std::string(48, 'k'); }), "rotated_from");
  EXPECT_EQ(failing_field([](KeyRecord &r) { r.rotated_from = "key_prev"; }), "");
}

TEST(Time, ParsesRfc3339) {
  int64_t t = -1;
  ASSERT_TRUE(parse_time("2026-11-22T10:00:00Z", t));
  EXPECT_EQ(t, testing::kCreated);
  ASSERT_TRUE(parse_time("1970-01-01T00:00:00Z", t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(parse_time("2026-11-22T10:00:00.987654Z", t));
  EXPECT_EQ(t, testing::kCreated);
  ASSERT_TRUE(parse_time("2026-11-22T15:30:00+05:30", t));
  EXPECT_EQ(t, testing::kCreated);
  ASSERT_TRUE(parse_time("2026-11-22T05:00:00-05:00", t));
  EXPECT_EQ(t, testing::kCreated);
  ASSERT_TRUE(parse_time("2026-11-22t10:00:00z", t));
  EXPECT_EQ(t, testing::kCreated);
  ASSERT_TRUE(parse_time("2024-02-29T00:00:00Z", t));
  EXPECT_EQ(t, 1709164800);
  ASSERT_TRUE(parse_time("9999-12-31T23:59:59Z", t));
  EXPECT_EQ(t, kMaxUnixTime);
}

TEST(Time, RejectsOtherShapes) {
  int64_t t = 42;
  for (const char *bad : {"", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22 10:00:00Z",
                          "2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
                          "2026-11-31T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T10:60:00Z",
                          "1969-12-31T23:59:59Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00+5:30",
                          "2026-11-22T10:00:00+05:30x", "2026-11-22T10:00:00ZZ", "1795341600",
                          "+026-11-22T10:00:00Z", "1970-01-01T00:00:00+00:01"})
    EXPECT_FALSE(parse_time(bad, t)) << bad;
  EXPECT_EQ(t, 42);
}

TEST(Time, FormatParseRoundTripAcrossTheRange) {
  EXPECT_EQ(format_time(testing::kCreated), "2026-11-22T10:00:00Z");
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time(kMaxUnixTime), "9999-12-31T23:59:59Z");
  for (int64_t t = 0; t <= kMaxUnixTime; t += 9999991) {  // ~25k points, every month and leap rule
    int64_t back = -1;
    ASSERT_TRUE(parse_time(format_time(t), back)) << format_time(t);
    ASSERT_EQ(back, t) << format_time(t);
  }
}

TEST(Hash, ParseAndFormat) {
  std::array<uint8_t, 32> h{};
  HashScheme s = HashScheme::Sha256;
  ASSERT_TRUE(parse_record_hash("hmac-sha256:" + std::string(62, '0') + "Ff", h, &s));
  EXPECT_EQ(s, HashScheme::HmacSha256);
  EXPECT_EQ(h[31], 0xff);
  EXPECT_EQ(h[0], 0);
  EXPECT_EQ(format_record_hash(h, s), "hmac-sha256:" + std::string(62, '0') + "ff");
  ASSERT_TRUE(parse_record_hash(testing::kHash, h, &s));
  EXPECT_EQ(s, HashScheme::Sha256);
  EXPECT_EQ(h[0], 0x9f);
  EXPECT_EQ(format_record_hash(h, s), testing::kHash);
  for (const std::string &bad : {std::string("sha256:abc"), "sha256:" + std::string(64, 'g'), std::string(), std::string(64, '0'),
                                "md5:" + std::string(64, '0'), "sha256:" + std::string(66, '0')})
    EXPECT_FALSE(parse_record_hash(bad, h)) << bad;
}

TEST(Errors, NameTheKeyAndField) {
  FieldError e{"type", "expected \"secret\" or \"publishable\", got \"admin\"", 0};
  EXPECT_EQ(format_record_error("key_2hT9", e),
            "key key_2hT9: field \"type\": expected \"secret\" or \"publishable\", got \"admin\"");
  EXPECT_EQ(format_record_error("", e).rfind("key record: field \"type\"", 0), 0u);
  EXPECT_EQ(format_record_error("a\nb", e).rfind("key a?b: ", 0), 0u);
  EXPECT_EQ(quote_for_error(std::string(100, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

}  // namespace
}  // namespace edgekey::sync
