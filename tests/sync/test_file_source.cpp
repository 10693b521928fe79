// edgekeyd's file upstream (FileSource) re-reading a keyset against what the
// Applier holds: changes, removals, rejections and duplicates applied as a
// fresh parse of the file would give them, whether an item is decoded or
// recognised by its bytes from the read before.
#include "sync/applier.hpp"
#include "sync/file_source.hpp"
#include "sync/keyset_file.hpp"
#include "sync_test_util.hpp"

#include "shm/src/table_writer.hpp"

#include <gtest/gtest.h>
#include <uv.h>

namespace edgekey::sync {
namespace {

using testing::hash_n;

std::string item(const std::string &id, unsigned h, const std::string &extra = "") {
  return "  - id: " + id + "\n    hash: " + hash_n(h) +
         "\n    workspace: ws_a\n    type: secret\n    env: live\n    role: viewer\n    status: active\n" + extra;
}

struct Fixture {
  testing::TempDir dir;
  std::string path = dir.file("keys.yaml");
  shm::TableOptions opts;
  std::unique_ptr<shm::TableWriter> writer;
  std::unique_ptr<Applier> applier;
  uv_loop_t loop;
  std::unique_ptr<FileSource> source;
  std::vector<std::string> warnings;

  Fixture() {
    PolicySpec spec;
    spec.permissions = {"agents:read"};
    spec.roles = {{"viewer", {"agents:read"}}};
    spec.region = "in-mum";
    const Policy p = testing::compiled(spec);
    opts.name = "ek-file-source-test-" + std::to_string(getpid());
    opts.capacity = 64;
    p.apply_to(opts);
    shm::TableWriter::destroy(opts.name);
    writer = std::make_unique<shm::TableWriter>(opts);
    applier = std::make_unique<Applier>(*writer, p, nullptr);
    uv_loop_init(&loop);
    source = std::make_unique<FileSource>(&loop, path, *applier, [this](FileSource::Level l, const std::string &m) {
      if (l != FileSource::Level::Info) warnings.push_back(m);
    });
  }
  ~Fixture() {
    source->close();
    uv_run(&loop, UV_RUN_NOWAIT);
    source.reset();
    uv_loop_close(&loop);
    applier.reset();
    writer.reset();
    shm::TableWriter::destroy(opts.name);
  }
  void write(const std::string &text) { testing::write_file(path, "keys:\n" + text); }
  const KeyRecord *id(const std::string &k) const { return applier->find_id(k); }
  bool in_table(unsigned h) const {
    TokenHash t;
    parse_record_hash(hash_n(h), t);
    return writer->get(t).has_value();
  }
};

TEST(FileSource, RereadsApplyWhatAFreshParseGives) {
  Fixture f;
  f.write(item("key_a", 1) + item("key_b", 2) + item("key_c", 3));
  ASSERT_TRUE(f.source->start());
  ASSERT_EQ(f.applier->size(), 3u);

  // a changed, b as it was, c gone, d new (this read decodes every item)
  f.write(item("key_a", 1, "    name: renamed\n") + item("key_b", 2) + item("key_d", 4));
  ASSERT_TRUE(f.source->reload());
  EXPECT_EQ(f.applier->size(), 3u);
  ASSERT_TRUE(f.id("key_a"));
  EXPECT_EQ(f.id("key_a")->name, "renamed");
  EXPECT_FALSE(f.id("key_c"));
  EXPECT_FALSE(f.in_table(3));
  EXPECT_TRUE(f.in_table(4));
  EXPECT_TRUE(f.warnings.empty());

  // The same bytes again (recognised, not decoded), plus a bad record.
  f.write(item("key_a", 1, "    name: renamed\n") + item("key_b", 2) + item("key_d", 4) +
          item("key_e", 5, "    type: admin\n"));
  ASSERT_TRUE(f.source->reload());
  EXPECT_EQ(f.applier->size(), 3u);
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("key key_e: field \"type\""), std::string::npos) << f.warnings[0];
  EXPECT_NE(f.warnings[0].find("(skipped)"), std::string::npos) << f.warnings[0];

  // A new record before b with b's hash: the first stays (key_x), b is a
  // duplicate; b's previous version is kept as long as the file has it, so
  // key_x, taking its hash, replaces it.
  f.warnings.clear();
  f.write(item("key_x", 2) + item("key_a", 1, "    name: renamed\n") + item("key_b", 2) + item("key_d", 4));
  ASSERT_TRUE(f.source->reload());
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find(":17: key key_b: field \"hash\": duplicate: same hash as key key_x at line 2"),
            std::string::npos)
      << f.warnings[0];
  ASSERT_TRUE(f.id("key_x"));
  EXPECT_FALSE(f.id("key_b"));
  EXPECT_TRUE(f.in_table(2));
  EXPECT_EQ(f.applier->size(), 3u);

  // Back as before: key_b again (decoded: its item's bytes are not key_x's), key_x gone.
  f.warnings.clear();
  f.write(item("key_a", 1, "    name: renamed\n") + item("key_b", 2) + item("key_d", 4));
  ASSERT_TRUE(f.source->reload());
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0];
  EXPECT_TRUE(f.id("key_b"));
  EXPECT_FALSE(f.id("key_x"));
  EXPECT_EQ(f.applier->size(), 3u);

  // A record given twice: the second copy (recognised by its bytes) is a duplicate of the first.
  f.write(item("key_a", 1, "    name: renamed\n") + item("key_b", 2) + item("key_d", 4) + item("key_b", 2));
  ASSERT_TRUE(f.source->reload());
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("key key_b: field \"hash\": duplicate: same hash as key key_b at line 10"),
            std::string::npos)
      << f.warnings[0];
  EXPECT_EQ(f.applier->size(), 3u);

  // A file that does not parse changes nothing.
  f.warnings.clear();
  testing::write_file(f.path, "keys: [unclosed\n");
  EXPECT_FALSE(f.source->reload());
  EXPECT_EQ(f.applier->size(), 3u);
  EXPECT_FALSE(f.source->healthy());
}

}  // namespace
}  // namespace edgekey::sync
