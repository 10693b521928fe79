// Reading and emitting the YAML keyset file.
#include "sync/record/keyset_file.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

namespace edgekey::sync {
namespace {

using testing::full_record;
using testing::minimal_record;

// The design's keyset example, verbatim.
const char *kDesignKeyset = R"(keys:
  - id: key_2hT9cQ4mZ8
    hash: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    workspace: ws_solar
    name: CI pipeline
    type: secret                # or publishable
    env: live                   # or test
    role: developer
    scopes: [agents:deploy]
    regions: [in-mum]           # empty or absent = every region
    allowed_origins: []         # required (non-empty) for publishable keys
    allowed_cidrs: [203.0.113.0/24, "2001:db8::/32"]
    created_at: 2026-11-22T10:00:00Z
    expires_at: null
    status: active              # or revoked (with revoked_at)
)";

TEST(KeysetYaml, ParsesTheDesignExample) {
  KeysetParse p = parse_keyset_yaml(kDesignKeyset, "keys.yaml");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_TRUE(p.rejected.empty());
  const KeyRecord &k = p.records[0];
  EXPECT_EQ(k.id, "key_2hT9cQ4mZ8");
  EXPECT_EQ(k.hash, testing::kHash);
  EXPECT_EQ(k.name, "CI pipeline");
  EXPECT_EQ(k.type, KeyType::Secret);
  EXPECT_EQ(k.env, KeyEnv::Live);
  EXPECT_EQ(k.scopes, std::vector<std::string>{"agents:deploy"});
  EXPECT_EQ(k.regions, std::vector<std::string>{"in-mum"});
  EXPECT_EQ(k.allowed_cidrs, (std::vector<std::string>{"203.0.113.0/24", "2001:db8::/32"}));
  EXPECT_EQ(k.created_at, testing::kCreated);
  EXPECT_FALSE(k.expires_at);
  EXPECT_EQ(k.status, KeyStatus::Active);
  EXPECT_EQ(p.record_lines, std::vector<int>{2});
}

TEST(KeysetYaml, RoundTripKeepsEveryField) {
  KeyRecord tricky = minimal_record("null");
  tricky.hash = testing::hash_n(7);
  tricky.workspace = "~";
  tricky.role = "true";
  tricky.name = "a: b # c [x] {y} & * ! | > % @ ` 'q' \"dq\" \\ caf\xc3\xa9";
  tricky.scopes = {"a, b", "[x]", "#c", "- d", "e: f", "123", "null", "yes", "0x1F", "1:30"};
  tricky.regions = {"-", " lead", "trail ", "::"};
  std::vector<KeyRecord> in = {full_record(), minimal_record(), tricky};
  std::string text = emit_keyset_yaml(in);
  KeysetParse p = parse_keyset_yaml(text);
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_TRUE(p.rejected.empty()) << p.rejected[0].message << "\n" << text;
  ASSERT_EQ(p.records.size(), 3u) << text;
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(p.records[i], in[i]) << i << "\n" << text;
  EXPECT_EQ(emit_keyset_yaml(p.records), text);
}

TEST(KeysetYaml, EmitsTheDesignLayout) {
  KeyRecord r = minimal_record("key_2hT9cQ4mZ8");
  r.name = "CI pipeline";
  r.scopes = {"agents:deploy"};
  r.regions = {"in-mum"};
  r.allowed_cidrs = {"203.0.113.0/24", "2001:db8::/32"};
  r.created_at = testing::kCreated;
  EXPECT_EQ(emit_keyset_yaml({r}),
            "keys:\n"
            "  - id: key_2hT9cQ4mZ8\n"
            "    hash: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
            "    workspace: ws_solar\n"
            "    name: CI pipeline\n"
            "    type: secret\n"
            "    env: live\n"
            "    role: developer\n"
            "    scopes: [agents:deploy]\n"
            "    regions: [in-mum]\n"
            "    allowed_origins: []\n"
            "    allowed_cidrs: [203.0.113.0/24, \"2001:db8::/32\"]\n"
            "    created_at: 2026-11-22T10:00:00Z\n"
            "    expires_at: null\n"
            "    status: active\n");
  EXPECT_EQ(emit_keyset_yaml({}), "keys: []\n");
}

TEST(KeysetYaml, OneBadRecordAmongGoodOnes) {
  const char *text = R"(keys:
  - id: key_good1
    hash: sha256:0000000000000000000000000000000000000000000000000000000000000001
    workspace: ws_a
    type: secret
    env: live
    role: viewer
    status: active
  - id: key_bad
    hash: sha256:0000000000000000000000000000000000000000000000000000000000000002
    workspace: ws_a
    type: admin
    env: live
    role: viewer
    status: active
  - id: key_good2
    hash: sha256:0000000000000000000000000000000000000000000000000000000000000003
    workspace: ws_a
    type: publishable
    env: test
    role: viewer
    allowed_origins: [https://app.example.com]
    status: revoked
)";
  KeysetParse p = parse_keyset_yaml(text, "/etc/edgekey/keys.yaml");
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].id, "key_good1");
  EXPECT_EQ(p.records[1].id, "key_good2");
  EXPECT_EQ(p.records[1].status, KeyStatus::Revoked);
  EXPECT_EQ(p.record_lines, (std::vector<int>{2, 16}));
  ASSERT_EQ(p.rejected.size(), 1u);
  const KeysetRejection &rj = p.rejected[0];
  EXPECT_EQ(rj.key_id, "key_bad");
  EXPECT_EQ(rj.line, 12);  // the `type:` line
  EXPECT_EQ(rj.reason,
            "key key_bad: field \"type\": expected \"secret\" or \"publishable\", got \"admin\"");
  EXPECT_EQ(rj.message, "/etc/edgekey/keys.yaml:12: " + rj.reason);
}

TEST(KeysetYaml, RecordLevelRejections) {
  const char *text = R"(keys:
  - just a string
  - hash: sha256:0000000000000000000000000000000000000000000000000000000000000001
    workspace: ws_a
  - id: key_twice
    id: key_twice_again
  - id: key_missing_role
    hash: sha256:0000000000000000000000000000000000000000000000000000000000000004
    workspace: ws_a
    type: secret
    env: live
    status: active
  - {id: key_pk, hash: "sha256:0000000000000000000000000000000000000000000000000000000000000005", workspace: w, type: publishable, env: live, role: r, status: active}
)";
  KeysetParse p = parse_keyset_yaml(text, "k.yaml");
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_TRUE(p.records.empty());
  ASSERT_EQ(p.rejected.size(), 5u);
  EXPECT_EQ(p.rejected[0].key_id, "");
  EXPECT_EQ(p.rejected[0].line, 2);
  EXPECT_NE(p.rejected[0].reason.find("expected a map"), std::string::npos);
  EXPECT_EQ(p.rejected[1].key_id, "");
  EXPECT_EQ(p.rejected[1].line, 3);
  EXPECT_EQ(p.rejected[1].reason, "key record: field \"id\": required, but missing");
  EXPECT_EQ(p.rejected[2].line, 6);
  EXPECT_NE(p.rejected[2].reason.find("field \"id\": given twice (also at line 5)"), std::string::npos)
      << p.rejected[2].reason;
  EXPECT_EQ(p.rejected[3].key_id, "key_missing_role");
  EXPECT_EQ(p.rejected[3].line, 7);
  EXPECT_NE(p.rejected[3].reason.find("field \"role\": required"), std::string::npos);
  EXPECT_EQ(p.rejected[4].key_id, "key_pk");
  EXPECT_EQ(p.rejected[4].line, 13);
  EXPECT_NE(p.rejected[4].reason.find("at least one origin"), std::string::npos);
}

TEST(KeysetYaml, DuplicateHashOrIdKeepsTheFirst) {
  std::vector<KeyRecord> recs = {minimal_record("key_a"), minimal_record("key_b"), minimal_record("key_a")};
  recs[0].hash = testing::hash_n(1);
  recs[1].hash = testing::hash_n(1);  // same hash as key_a
  recs[2].hash = testing::hash_n(3);  // same id as key_a
  KeysetParse p = parse_keyset_yaml(emit_keyset_yaml(recs));
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0], recs[0]);
  ASSERT_EQ(p.rejected.size(), 2u);
  EXPECT_EQ(p.rejected[0].key_id, "key_b");
  EXPECT_NE(p.rejected[0].reason.find("same hash as key key_a"), std::string::npos) << p.rejected[0].reason;
  EXPECT_EQ(p.rejected[1].key_id, "key_a");
  EXPECT_NE(p.rejected[1].reason.find("field \"id\": duplicate"), std::string::npos) << p.rejected[1].reason;
  EXPECT_LT(p.rejected[0].line, p.rejected[1].line);
}

TEST(KeysetYaml, PlainScalarsAreText) {
  const char *text = R"(keys:
  - id: 12345
    hash: sha256:0000000000000000000000000000000000000000000000000000000000000001
    workspace: 2024
    name: yes
    type: secret
    env: live
    role: "null"
    status: active
    rotated_from: ~
    origin_written_at: 1795341600123
    future_field: {nested: [1, 2]}
)";
  KeysetParse p = parse_keyset_yaml(text);
  ASSERT_TRUE(p.ok()) << p.error;
  ASSERT_EQ(p.records.size(), 1u) << p.rejected[0].message;
  EXPECT_EQ(p.records[0].id, "12345");
  EXPECT_EQ(p.records[0].workspace, "2024");
  EXPECT_EQ(p.records[0].name, "yes");
  EXPECT_EQ(p.records[0].role, "null");
  EXPECT_TRUE(p.records[0].rotated_from.empty());
  EXPECT_EQ(p.records[0].origin_written_at, 1795341600123);
}

TEST(KeysetYaml, FileLevelErrors) {
  KeysetParse p = parse_keyset_yaml("keys:\n  - id: [unclosed\n", "bad.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error.rfind("bad.yaml:", 0), 0u) << p.error;
  EXPECT_NE(p.error.find("not YAML"), std::string::npos) << p.error;
  EXPECT_TRUE(p.records.empty());

  p = parse_keyset_yaml("key: value\n\tbad: [\n", "tab.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error.rfind("tab.yaml:", 0), 0u) << p.error;

  p = parse_keyset_yaml("version: 1\nkeyz: []\n", "k.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error, "k.yaml: no top-level `keys:` list");

  p = parse_keyset_yaml("", "empty.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_NE(p.error.find("empty.yaml"), std::string::npos);

  p = parse_keyset_yaml("- a\n- b\n", "list.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_NE(p.error.find("keys:"), std::string::npos) << p.error;

  p = parse_keyset_yaml("comment: x\nkeys: 5\n", "scalar.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error, "scalar.yaml:2: `keys:` must be a list of key records, got \"5\"");

  p = parse_keyset_yaml(std::string(20000, '['), "deep.yaml");
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.error.rfind("deep.yaml", 0), 0u);
}

TEST(KeysetYaml, EmptyKeysIsAnEmptyKeyset) {
  for (const char *text : {"keys:\n", "keys: []\n", "keys: null\n", "# all revoked\nkeys: ~\n"}) {
    KeysetParse p = parse_keyset_yaml(text);
    EXPECT_TRUE(p.ok()) << text << ": " << p.error;
    EXPECT_TRUE(p.records.empty());
    EXPECT_TRUE(p.rejected.empty());
  }
}

TEST(KeysetYaml, LoadFile) {
  testing::TempDir dir;
  KeysetParse p = load_keyset_file(dir.file("absent.yaml"));
  EXPECT_FALSE(p.ok());
  EXPECT_TRUE(p.not_found);
  EXPECT_NE(p.error.find(dir.file("absent.yaml")), std::string::npos);

  testing::write_file(dir.file("keys.yaml"), std::string(kDesignKeyset) + "  - id: key_x\n");
  p = load_keyset_file(dir.file("keys.yaml"));
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_FALSE(p.not_found);
  ASSERT_EQ(p.records.size(), 1u);
  ASSERT_EQ(p.rejected.size(), 1u);
  EXPECT_EQ(p.rejected[0].message.rfind(dir.file("keys.yaml") + ":16: key key_x: ", 0), 0u)
      << p.rejected[0].message;

  p = load_keyset_file(dir.path().string());  // a directory
  EXPECT_FALSE(p.ok());
  EXPECT_FALSE(p.not_found);
}

}  // namespace
}  // namespace edgekey::sync
