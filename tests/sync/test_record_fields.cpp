// The field table (record_fields.hpp) against KeyRecord and the codecs that
// follow it, and ValidRecord: what validation hands the resolver.
#include "sync/record/keyset_file.hpp"
#include "sync/record/record_fields.hpp"
#include "sync/record/record_json.hpp"
#include "sync_test_util.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <type_traits>
#include <vector>

namespace edgekey::sync {
namespace {

// Every member of KeyRecord is in the table once, in member order. A member
// added to KeyRecord breaks the structured binding below (it names them all)
// until this test, and with it the table, names the new one.
TEST(RecordFields, TheTableHoldsEveryMemberOfTheRecordOnceInOrder) {
  KeyRecord r;
  auto &[id, hash, workspace, name, type, env, role, scopes, regions, allowed_origins, allowed_cidrs, created_at,
         expires_at, status, revoked_at, rotated_from, origin_written_at] = r;
  const std::vector<const void *> members = {
      &id,     &hash,         &workspace,  &name,       &type,         &env,
      &role,   &scopes,       &regions,    &allowed_origins, &allowed_cidrs, &created_at,
      &expires_at, &status,   &revoked_at, &rotated_from, &origin_written_at};
  std::vector<const void *> visited;
  std::vector<std::string> names;
  for_each_field(r, [&](const FieldSpec &s, auto &m) {
    visited.push_back(&m);
    names.emplace_back(s.name);
  });
  EXPECT_EQ(visited, members);
  EXPECT_EQ(visited.size(), kRecordFieldCount);
  for (const auto &n : names) EXPECT_TRUE(is_known_field(n)) << n;
  EXPECT_FALSE(is_known_field("token"));
}

// field_index() finds each field at its table position (the fast decoders
// read fields by it) and nothing else; kRequiredFields is the table's.
TEST(RecordFields, FieldIndexAndRequiredFieldsFollowTheTable) {
  KeyRecord r;
  size_t i = 0;
  uint32_t required = 0;
  for_each_field(r, [&](const FieldSpec &s, auto &m) {
    EXPECT_EQ(field_index(s.name), i) << s.name;
    const void *visited = nullptr;
    visit_field(r, i, [&](const FieldSpec &v, auto &n) {
      EXPECT_EQ(v.name, s.name);
      visited = &n;
    });
    EXPECT_EQ(visited, static_cast<const void *>(&m)) << s.name;
    if (s.required) required |= 1u << i;
    ++i;
  });
  EXPECT_EQ(kRequiredFields, required);
  for (std::string_view n : {"", "i", "ids", "Id", "hash ", "hashx", "token", "origin_written_a", "allowed_origin"})
    EXPECT_EQ(field_index(n), kRecordFieldCount) << n;
}

// testing::full_record() sets every field of the table, so the round trips
// below (and test_record_json's, test_keyset_yaml's) exercise each one.
TEST(RecordFields, TheFullTestRecordSetsEveryField) {
  const KeyRecord full = testing::full_record(), empty;
  std::vector<const void *> defaults;
  for_each_field(empty, [&](const FieldSpec &, const auto &m) { defaults.push_back(&m); });
  size_t i = 0;
  for_each_field(full, [&](const FieldSpec &s, const auto &m) {
    using M = std::remove_cvref_t<decltype(m)>;
    EXPECT_FALSE(m == *static_cast<const M *>(defaults[i++])) << s.name << " is not set by full_record()";
  });
}

// Each codec writes and reads back every field of the table.
TEST(RecordFields, EveryFieldRoundTripsThroughEachCodec) {
  const KeyRecord full = testing::full_record();
  const KeyRecord minimal = testing::minimal_record();
  for (const KeyRecord &r : {full, minimal}) {
    const std::string direct = encode_record_json(r);
    EXPECT_EQ(direct, encode_record_json_generic(r));
    EXPECT_EQ(direct, record_json_value(r).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
    auto back = decode_record_json(direct);
    ASSERT_TRUE(back.ok()) << back.error;
    EXPECT_TRUE(back.value->record() == r) << direct;
    KeysetParse yaml = parse_keyset_yaml(emit_keyset_yaml({r}));
    ASSERT_TRUE(yaml.ok()) << yaml.error;
    ASSERT_EQ(yaml.records.size(), 1u);
    EXPECT_TRUE(yaml.records[0] == r);
  }
  // Every name of the table is written (the full record has none absent).
  const nlohmann::ordered_json j = record_json_value(full);
  for_each_field(full, [&](const FieldSpec &s, const auto &) { EXPECT_TRUE(j.contains(s.name)) << s.name; });
  const std::string yaml = emit_keyset_yaml({full});
  for_each_field(full, [&](const FieldSpec &s, const auto &) {
    EXPECT_NE(yaml.find(" " + std::string(s.name) + ":"), std::string::npos) << s.name << "\n" << yaml;
  });
}

// The JSON and YAML spellings of absent optional fields, as the table states them.
TEST(RecordFields, AbsentFieldsAreWrittenAsTheTableSays) {
  const KeyRecord minimal = testing::minimal_record();
  const nlohmann::ordered_json j = record_json_value(minimal);
  const std::string yaml = emit_keyset_yaml({minimal});
  for_each_field(minimal, [&](const FieldSpec &s, const auto &m) {
    if (s.required || !field_absent(m)) return;
    const std::string key(s.name);
    switch (s.json) {
      case Absent::Omitted: EXPECT_FALSE(j.contains(key)) << key; break;
      case Absent::Null: EXPECT_TRUE(j.contains(key) && j[key].is_null()) << key; break;
      case Absent::Written: EXPECT_TRUE(j.contains(key) && !j[key].is_null()) << key; break;
    }
    const bool in_yaml = yaml.find(" " + key + ":") != std::string::npos;
    EXPECT_EQ(in_yaml, s.yaml != Absent::Omitted) << key << "\n" << yaml;
    if (s.yaml == Absent::Null) {
      EXPECT_NE(yaml.find(" " + key + ": null"), std::string::npos) << key;
    }
  });
}

// A ValidRecord carries its hash parsed and its text canonical; one that
// breaks a rule is not made, and the record is left to the caller.
TEST(ValidRecord, HoldsTheParsedHashAndCanonicalText) {
  KeyRecord r = testing::minimal_record();
  r.hash = "sha256:" + std::string(62, '0') + "AB";
  FieldError why;
  std::optional<ValidRecord> v = ValidRecord::check(std::move(r), why);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->record().hash, "sha256:" + std::string(62, '0') + "ab");
  EXPECT_EQ(v->scheme(), HashScheme::Sha256);
  EXPECT_EQ(v->hash()[31], 0xab);
  EXPECT_EQ(v->hash()[0], 0);

  KeyRecord bad = testing::minimal_record("key_bad");
  bad.workspace = "";
  EXPECT_FALSE(ValidRecord::check(std::move(bad), why));
  EXPECT_EQ(why.field, "workspace");
  EXPECT_EQ(bad.id, "key_bad");  // not moved from
  Expected<ValidRecord> e = validate(std::move(bad));
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error, format_record_error("key_bad", *validate_record(bad)));
}

}  // namespace
}  // namespace edgekey::sync
