// The keyset file's fast reader (keyset_scan.hpp) against the full YAML
// parser on the same texts, and the editor that splices changed records
// into the file (keyset_edit.hpp).
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

namespace edgekey::sync {
namespace {

using testing::hash_n;
using testing::minimal_record;

// True when the fast reader read `text` (no fall back to the full parser).
bool read_fast(std::string_view text) {
  bool fast = true;
  KeysetVisitor v;
  v.restart = [&] { fast = false; };
  v.record = [&](KeyRecord &&, int, const ScanItem *item) { fast = fast && item; };
  v.reject = [](KeysetRejection &&) {};
  return stream_keyset(text, "k.yaml", v).empty() && fast;
}

void expect_same(const std::string &text) {
  SCOPED_TRACE(text);
  const KeysetParse a = parse_keyset_yaml(text, "k.yaml"), b = parse_keyset_yaml_full(text, "k.yaml");
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.records, b.records);
  EXPECT_EQ(a.record_lines, b.record_lines);
  ASSERT_EQ(a.rejected.size(), b.rejected.size());
  for (size_t i = 0; i < a.rejected.size(); ++i) {
    EXPECT_EQ(a.rejected[i].key_id, b.rejected[i].key_id);
    EXPECT_EQ(a.rejected[i].line, b.rejected[i].line);
    EXPECT_EQ(a.rejected[i].message, b.rejected[i].message);
  }
}

const std::string kHead = "keys:\n";
std::string item(const std::string &id, unsigned h, const std::string &extra = "") {
  return "  - id: " + id + "\n    hash: " + hash_n(h) +
         "\n    workspace: ws_a\n    type: secret\n    env: live\n    role: viewer\n    status: active\n" + extra;
}

TEST(KeysetFast, ReadsWhatEdgekeyctlWritesAndAgreesWithTheFullParser) {
  KeyRecord full = testing::full_record();
  KeyRecord tricky = minimal_record("null");
  tricky.hash = hash_n(7);
  tricky.workspace = "~";
  tricky.role = "true";
  tricky.name = "a: b # c [x] {y} & * ! | > % @ ` 'q' \"dq\" \\ caf\xc3\xa9";
  tricky.scopes = {"a, b", "[x]", "#c", "- d", "e: f", "123", "null", "yes", "0x1F", "1:30"};
  tricky.regions = {"-", " lead", "trail ", "::"};
  const std::string text = emit_keyset_yaml({full, minimal_record(), tricky});
  EXPECT_TRUE(read_fast(text));
  expect_same(text);
}

TEST(KeysetFast, HandWrittenFormsAgreeWithTheFullParser) {
  const std::vector<std::string> texts = {
      // comments, blank lines, quoting, flow lists, nulls, an unknown field, no final newline
      "# keys of ws_a\nkeys:   # the list\n\n" + item("key_a", 1, "    scopes: [agents:read, 'chat:write' ]  # two\n") +
          "  # between\n\n" + item("'key_b'", 2, "    name: \"x \\\"y\\\" \\u00e9\"\n    regions: ~\n    extra: 5\n"),
      kHead + item("key_a", 1, "    expires_at: null\n    revoked_at:\n    name: it's\n").substr(0),
      "keys:\n- id: key_zero\n  hash: " + hash_n(1) + "\n  workspace: w\n  type: secret\n  env: live\n  role: r\n  status: active",
      // rejections: a bad enum, a missing field, a null in a list, a field twice, duplicates
      kHead + item("key_a", 1, "    type: admin\n"),
      kHead + "  - id: key_x\n    hash: " + hash_n(3) + "\n",
      kHead + item("key_a", 1, "    scopes: [a, null]\n"),
      kHead + item("key_a", 1) + item("key_b", 1) + item("key_a", 2),
      kHead + item("key_a", 1, "    created_at: 2026-13-01T00:00:00Z\n    origin_written_at: \"12\"\n"),
      kHead + item("12345", 1, "    name: yes\n    origin_written_at: 1795341600123\n"),
      // whole-file forms
      "keys:\n", "keys: []\n", "keys: null\n", "# all revoked\nkeys: ~\n", "keys: [] # none\n",
      // forms the fast reader leaves to the full parser
      kHead + item("key_a", 1, "    scopes:\n      - a\n"),
      kHead + item("key_a", 1, "    future: {nested: [1, 2]}\n"),
      kHead + "  - just a string\n",
      kHead + item("&a key_a", 1),
      "version: 1\n" + kHead + item("key_a", 1),
      kHead + item("key_a", 1) + "other: 1\n",
      kHead + item("key_a", 1, "    name: \"multi\n      line\"\n"),
      kHead + item("key_a", 1, "    name: a\tb\n"),
      "keys:\r\n  - id: key_a\r\n",
      "keys: [unclosed\n", "key: value\n\tbad: [\n", "- a\n- b\n", "comment: x\nkeys: 5\n", ""};
  for (const auto &t : texts) expect_same(t);
  EXPECT_TRUE(read_fast(texts[0]));
  EXPECT_TRUE(read_fast(texts[2]));
  EXPECT_FALSE(read_fast(kHead + item("key_a", 1, "    scopes:\n      - a\n")));
}

// parse_keyset_yaml_ranges reads parts of the items on threads of their
// own: records, lines and rejections come out as one reader gives them, with
// repeats across parts found, and a form only the full parser reads in a
// later part still sends the whole text to it.
TEST(KeysetFast, ItemsReadInRangesGiveWhatOneReaderGives) {
  std::string text = "# ranges\nkeys:\n";
  for (unsigned i = 0; i < 600; ++i) {
    const std::string id = "key_r" + std::to_string(i);
    if (i % 97 == 5) text += "  # a comment at the item column\n\n";
    if (i % 53 == 7)
      text += item(id, 1000 + i, "    type: admin\n");  // rejected: a bad enum
    else if (i % 71 == 9)
      text += item(id, 1000 + i / 2);  // repeats an earlier record's hash
    else if (i % 89 == 11)
      text += item("key_r" + std::to_string(i / 3), 5000 + i);  // repeats an earlier id
    else
      text += item(id, 1000 + i, i % 2 ? "    scopes: [chat:write]\n" : "");
  }
  expect_same(text);  // parse_keyset_yaml, one range at this size
  const KeysetParse one = parse_keyset_yaml_ranges(text, "k.yaml", 1);
  ASSERT_TRUE(one.ok());
  EXPECT_GT(one.records.size(), 500u);
  EXPECT_GT(one.rejected.size(), 20u);
  for (size_t ranges : {2, 3, 4, 7, 1000}) {
    SCOPED_TRACE(ranges);
    const KeysetParse p = parse_keyset_yaml_ranges(text, "k.yaml", ranges);
    EXPECT_EQ(p.error, one.error);
    EXPECT_EQ(p.records, one.records);
    EXPECT_EQ(p.records.hashes(), one.records.hashes());
    EXPECT_EQ(p.record_lines, one.record_lines);
    ASSERT_EQ(p.rejected.size(), one.rejected.size());
    for (size_t i = 0; i < p.rejected.size(); ++i) EXPECT_EQ(p.rejected[i].message, one.rejected[i].message);
  }
  const std::string late_block_list = text + item("key_last", 1, "    scopes:\n      - a\n");
  const KeysetParse full = parse_keyset_yaml_full(late_block_list, "k.yaml");
  const KeysetParse ranged = parse_keyset_yaml_ranges(late_block_list, "k.yaml", 4);
  EXPECT_EQ(ranged.records, full.records);
  EXPECT_EQ(ranged.record_lines, full.record_lines);
  EXPECT_EQ(ranged.rejected.size(), full.rejected.size());
}

TEST(KeysetFast, EditorSplicesChangedRecordsIntoTheOtherBytes) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.yaml");
  const std::string before = "# hand-written\nkeys:\n" + item("key_a", 1, "    # about a\n") + "\n  # keep me\n" +
                             item("key_b", 2) + item("key_c", 3, "    scopes: [agents:read]   # odd spacing\n");
  KeysetEditor e;
  ASSERT_TRUE(e.read(before, path));
  EXPECT_EQ(e.size(), 3u);
  std::optional<KeyRecord> b = e.find("key_b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->hash, hash_n(2));
  EXPECT_FALSE(e.find("key_z"));
  EXPECT_EQ(e.hash_owner(hash_n(2), "key_new"), std::optional<std::string>("key_b"));
  EXPECT_FALSE(e.hash_owner(hash_n(2), "key_b"));
  EXPECT_FALSE(e.hash_owner(hash_n(9), "key_new"));

  b->status = KeyStatus::Revoked;
  b->revoked_at = testing::kCreated;
  KeyRecord n = minimal_record("key_new");
  n.hash = hash_n(4);
  e.write(path, {*b, n});
  const std::string after = testing::read_file(path);
  const std::string expected = "# hand-written\nkeys:\n" + item("key_a", 1, "    # about a\n") + "\n  # keep me\n" +
                               emit_keyset_item(*b, 2) + item("key_c", 3, "    scopes: [agents:read]   # odd spacing\n") +
                               emit_keyset_item(n, 2);
  EXPECT_EQ(after, expected);
  KeysetParse p = parse_keyset_yaml(after);
  ASSERT_EQ(p.records.size(), 4u);
  EXPECT_EQ(p.records[1], *b);
  EXPECT_EQ(p.records[3], n);
}

TEST(KeysetFast, EditorKeepsTheFilesIndentAndLastLine) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.yaml");
  std::string text = "keys:\n- id: key_a\n  hash: " + hash_n(1) +
                     "\n  workspace: w\n  type: secret\n  env: live\n  role: viewer\n  status: active";
  KeysetEditor e;
  ASSERT_TRUE(e.read(text, path));
  KeyRecord a = *e.find("key_a");
  a.name = "renamed";
  KeyRecord n = minimal_record("key_new");
  n.hash = hash_n(2);
  e.write(path, {a, n});
  const std::string after = testing::read_file(path);
  EXPECT_EQ(after, "keys:\n" + emit_keyset_item(a, 0) + emit_keyset_item(n, 0));
  EXPECT_EQ(emit_keyset_item(n, 0).substr(0, 14), "- id: key_new\n");
  KeysetParse p = parse_keyset_yaml(after);
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0], a);
  EXPECT_EQ(p.records[1], n);
}

TEST(KeysetFast, EditorLeavesOtherFormsToAWholeRewrite) {
  KeysetEditor e;
  EXPECT_FALSE(e.read("keys: []\n", "k"));
  EXPECT_FALSE(e.read(kHead + item("key_a", 1, "    scopes:\n      - a\n"), "k"));
  EXPECT_FALSE(e.read(kHead + item("key_a", 1) + item("key_b", 1), "k"));  // a repeated hash
  EXPECT_FALSE(e.read(kHead + item("key_a", 1) + item("key_a", 2), "k"));  // a repeated id
  ASSERT_TRUE(e.read(kHead + item("key_a", 1) + item("key_b", 2, "    type: admin\n"), "k"));
  ASSERT_EQ(e.rejected().size(), 1u);
  EXPECT_EQ(e.rejected()[0].key_id, "key_b");
}

}  // namespace
}  // namespace edgekey::sync
