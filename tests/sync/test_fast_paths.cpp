// The snapshot's fast paths give the answers of the general code they skip:
// decode_record_json's direct DOM reading against the field-by-field
// decoder, the direct encoder against nlohmann, the JetStream reply parser
// against what libnats reads; and a file written in pieces.
#include "sync/record/atomic_file.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/js_delivery.hpp"
#include "sync/upstream/snapshot.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <stdexcept>

namespace edgekey::sync {
namespace {

void expect_same_answer(const std::string &text) {
  Expected<ValidRecord> fast = decode_record_json(text);
  Expected<ValidRecord> slow = decode_record_json_by_fields(text);
  ASSERT_EQ(fast.ok(), slow.ok()) << text;
  if (fast.ok()) EXPECT_TRUE(*fast.value == *slow.value) << text;
  else EXPECT_EQ(fast.error, slow.error) << text;
}

TEST(FastDecode, SameRecordOrSameErrorAsTheFieldByFieldDecoder) {
  const std::string full = encode_record_json(testing::full_record());
  const std::string minimal = encode_record_json(testing::minimal_record());
  const std::string h64 = "0123456789ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef";
  std::vector<std::string> cases = {
      full, minimal,
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","id":"key_b"})",
      R"({"id":null,"hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      R"({"hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","origin_written_at":3.0})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","origin_written_at":18446744073709551615})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","origin_written_at":-5})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","scopes":null,"name":null,"expires_at":null})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","scopes":["a",1]})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","scopes":"a"})",
      R"({"id":"key_a","hash":"SHA256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"Secret","env":"live","role":"r","status":"active"})",
      R"({"id":"key_a","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active","expires_at":"2026-11-22T10:00:00+05:30","extra":{"x":[1]}})",
      R"({"id":"key_\u0000","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      R"({"i\u0064":"key_esc","hash":"sha256:)" + h64 + R"(","workspace":"w","type":"secret","env":"live","role":"r","status":"active"})",
      "[1,2]", "{", "null", "{}"};
  for (const auto &c : cases) ASSERT_NO_FATAL_FAILURE(expect_same_answer(c));

  // Mutations of valid records, as the fuzz smoke test makes them.
  std::mt19937 rng(3);
  static const char kAlphabet[] = "{}[]:,\"\\ 0aZAF-\x00\xff\xc3nul";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  for (const std::string &seed : {full, minimal}) {
    for (int i = 0; i < 3000; ++i) {
      std::string s = seed;
      for (int e = 0, edits = 1 + int(rng() % 3); e < edits && !s.empty(); ++e) {
        size_t at = rng() % s.size();
        switch (rng() % 3) {
          case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
          case 1: s.erase(at, 1 + rng() % 4); break;
          case 2: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        }
      }
      ASSERT_NO_FATAL_FAILURE(expect_same_answer(s));
    }
  }
}

TEST(FastEncode, SameBytesAsNlohmann) {
  std::vector<KeyRecord> records = {testing::full_record(), testing::minimal_record()};
  KeyRecord quotes = testing::minimal_record("key_q\"\\");
  quotes.name = "a \"quoted\" \\ name / {x}: [y]";
  quotes.scopes = {"a\"b", "", "\\"};
  quotes.rotated_from = "key_\\old";
  quotes.origin_written_at = -1;
  records.push_back(quotes);
  KeyRecord odd = testing::minimal_record("key_\x01\x7f\xff");  // control, DEL, invalid UTF-8
  odd.name = "caf\xc3\xa9 \t\n";
  odd.type = static_cast<KeyType>(9);
  odd.expires_at = int64_t(-5);
  odd.created_at = kMaxUnixTime + 10;
  records.push_back(odd);
  KeyRecord times = testing::full_record();
  times.rotated_from.clear();
  times.origin_written_at.reset();
  records.push_back(times);
  for (const auto &r : records) {
    EXPECT_EQ(encode_record_json(r), encode_record_json_generic(r)) << r.id;
    std::string appended = "x";
    append_record_json(appended, r);
    EXPECT_EQ(appended, "x" + encode_record_json_generic(r));
  }
}

TEST(JsDelivery, ReadsSequenceAndPendingOfEveryReplyForm) {
  uint64_t seq = 0, pending = 0;
  // v1: stream, consumer, delivered, stream seq, consumer seq, time, pending.
  EXPECT_TRUE(parse_ack_reply("$JS.ACK.KV_keys.c1.1.42.7.1700000000000000000.99", seq, pending));
  EXPECT_EQ(seq, 42u);
  EXPECT_EQ(pending, 99u);
  // v2: domain and account hash first, then a random token.
  EXPECT_TRUE(parse_ack_reply("$JS.ACK.in.ACCHASH.KV_keys.c1.1.1000000.5.1700000000000000000.0.abcdef", seq, pending));
  EXPECT_EQ(seq, 1000000u);
  EXPECT_EQ(pending, 0u);
  EXPECT_TRUE(parse_ack_reply("$JS.ACK._.ACCHASH.KV_keys.c1.1.8.5.17.3", seq, pending));
  EXPECT_EQ(seq, 8u);
  EXPECT_EQ(pending, 3u);
  for (const char *bad : {"", "$JS.ACK.", "_INBOX.x.y", "$JS.ACK.a.b.1.2.3.4", "$JS.ACK.a.b.1.2.3.4.5.6",
                          "$JS.ACK.a.b.1.x.3.4.5", "$JS.ACK.a.b.1.2.3.4.-5", "$JS.ACK.a.b.1..3.4.5",
                          "$JS.ACK.a.b.1.99999999999999999999.3.4.5"})
    EXPECT_FALSE(parse_ack_reply(bad, seq, pending)) << bad;
}

TEST(AtomicFile, ContentInPiecesAndAFailingProducerLeavesTheOldFile) {
  testing::TempDir dir;
  const std::string path = dir.file("f");
  int piece = 0;
  replace_file_atomically(path, [&](std::string &buf) {
    buf = "piece " + std::to_string(piece++) + "\n";
    return piece < 3;
  }, 0640);
  EXPECT_EQ(testing::read_file(path), "piece 0\npiece 1\npiece 2\n");
  EXPECT_THROW(replace_file_atomically(path, [&](std::string &buf) -> bool {
    buf = "half";
    if (piece++ > 3) throw std::runtime_error("out of records");
    return true;
  }, 0640), std::runtime_error);
  EXPECT_EQ(testing::read_file(path), "piece 0\npiece 1\npiece 2\n");
  size_t files = 0;
  for ([[maybe_unused]] const auto &e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u) << "a temp file was left";
}

// A snapshot larger than one piece (1 MiB) reads back whole.
TEST(Snapshot, ALargeSnapshotIsWrittenInPiecesAndReadsBack) {
  testing::TempDir dir;
  Snapshot s;
  s.revision = 42;
  s.source = "nats:in/KV_keys";
  for (unsigned i = 0; i < 5000; ++i) {
    KeyRecord r = testing::full_record();
    r.id = "key_" + std::to_string(i);
    r.hash = testing::hash_n(i);
    s.records.push_back(r);
  }
  save_snapshot(dir.file("snap"), s);
  EXPECT_GT(std::filesystem::file_size(dir.file("snap")), size_t(1) << 20);
  SnapshotLoad back = load_snapshot(dir.file("snap"));
  ASSERT_TRUE(back.ok()) << back.error;
  EXPECT_EQ(back.skipped, 0u);
  EXPECT_EQ(back.snapshot.revision, 42u);
  EXPECT_EQ(back.snapshot.source, s.source);
  EXPECT_TRUE(back.snapshot.records == s.records);
}

}  // namespace
}  // namespace edgekey::sync
