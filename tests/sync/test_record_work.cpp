// How often each path to the table validates a record and parses its hash
// (record_work(), per thread): once each, from the reader to the resolved
// table record. A path that checks a record again (or parses its hash
// again) fails here.
#include "sync/record/keyset_file.hpp"
#include "sync/record/record_json.hpp"
#include "sync/record/resolve.hpp"
#include "sync/upstream/prepared_load.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

namespace edgekey::sync {
namespace {

constexpr size_t kRecords = 40;

std::shared_ptr<const Resolver> resolver() {
  PolicySpec spec;
  spec.permissions = {"agents:read"};
  spec.roles = {{"developer", {"agents:read"}}};
  spec.region = "in-mum";
  return std::make_shared<const Resolver>(testing::compiled(spec));
}

// The work of f(), per record.
template <class F>
RecordWork per_record(F &&f) {
  const RecordWork a = record_work();
  f();
  const RecordWork b = record_work();
  return RecordWork{(b.validations - a.validations) / kRecords, (b.hash_parses - a.hash_parses) / kRecords};
}

// kRecords records in edgekeyctl's layout (the fast reader's), or with one
// item in flow style (a form only the full YAML parser reads).
std::string keyset(bool full_parser_only) {
  std::vector<KeyRecord> recs;
  for (unsigned i = 0; i < kRecords; ++i) {
    KeyRecord r = testing::minimal_record("key_" + std::to_string(i));
    r.hash = testing::hash_n(i + 1);
    recs.push_back(r);
  }
  std::string text = emit_keyset_yaml(recs);
  if (full_parser_only) {
    const size_t at = text.find("  - id: key_0\n");
    text.replace(at, text.find("  - id: key_1\n") - at,
                 "  - {id: key_0, hash: \"" + testing::hash_n(1) +
                     "\", workspace: ws_solar, type: secret, env: live, role: developer, status: active}\n");
  }
  return text;
}

void expect_once(const RecordWork &w) {
  EXPECT_EQ(w.validations, 1u);
  EXPECT_EQ(w.hash_parses, 1u);
}

TEST(RecordWork, AKeysetLoadValidatesEachRecordOnce) {
  for (bool full : {false, true}) {
    SCOPED_TRACE(full ? "full YAML parser" : "fast reader");
    const std::string text = keyset(full);
    const auto res = resolver();
    PreparedLoad p;
    const RecordWork w = per_record([&] {
      KeysetParse k = parse_keyset_yaml(text, "keys.yaml");
      ASSERT_EQ(k.records.size(), kRecords);
      p = prepare_load(std::move(k.records), res);
    });
    EXPECT_EQ(p.store.size(), kRecords);
    EXPECT_TRUE(p.errors.empty());
    expect_once(w);
  }
}

TEST(RecordWork, ALiveNatsPutIsValidatedOnce) {
  std::vector<std::string> docs;
  for (unsigned i = 0; i < kRecords; ++i) {
    KeyRecord r = testing::minimal_record("key_" + std::to_string(i));
    r.hash = testing::hash_n(i + 1);
    docs.push_back(encode_record_json(r));
  }
  const auto res = resolver();
  size_t resolved = 0;
  const RecordWork w = per_record([&] {
    for (const auto &d : docs) {
      Expected<ValidRecord> v = decode_record_json(d);
      ASSERT_TRUE(v.ok()) << v.error;
      resolved += res->resolve(*v.value).ok();
    }
  });
  EXPECT_EQ(resolved, kRecords);
  expect_once(w);
}

}  // namespace
}  // namespace edgekey::sync
