// A keyset directory through edgekeyd's file upstream (FileSource): every
// part loaded as one snapshot, a repeat across parts rejected with its file
// and line while the rest applies, parts added, broken, fixed and removed,
// an edit re-reading only its part, and a key moved between parts never
// missing from the table (checked through the C API by a second thread).
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/file_source.hpp"
#include "file_source_fixture.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/edgekey.h>
#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <cstring>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace edgekey::sync {
namespace {

using testing::hash_n;

using testing::keyset_item;

// `n` items key_<prefix>_<i> with hashes hash_n(first + i).
std::string filler(const std::string &prefix, unsigned first, unsigned n) {
  std::string s;
  for (unsigned i = 0; i < n; ++i) s += keyset_item("key_" + prefix + "_" + std::to_string(i), first + i);
  return s;
}

struct DirFixture : testing::FileSourceFixture {
  const std::string &dir = path;
  explicit DirFixture(size_t capacity = 64) : FileSourceFixture("keys.d", true, "ek-keyset-dir-test-", capacity) {}
  std::string part(const std::string &name) const { return dir + "/" + name; }
  // As edgekeyctl and most editors do: a new file renamed over the old.
  void put(const std::string &name, const std::string &items) {
    replace_file_atomically(part(name), "keys:\n" + items, 0640);
  }
  bool reload() {
    infos.clear();
    warnings.clear();
    return source->reload();
  }
  bool logged(const std::vector<std::string> &lines, const std::string &a, const std::string &b = "") const {
    for (const auto &l : lines)
      if (l.find(a) != std::string::npos && l.find(b) != std::string::npos) return true;
    return false;
  }
};

TEST(KeysetDir, LoadsEveryPartAndRejectsARepeatAcrossPartsWithItsFileAndLine) {
  DirFixture f;
  f.put("a.yaml", keyset_item("key_a", 1) + keyset_item("key_b", 2));
  // key_d repeats key_b's hash (line 9), the second key_a its id (line 16): the rest applies.
  f.put("b.yaml", keyset_item("key_c", 3) + keyset_item("key_d", 2) + keyset_item("key_a", 5));
  // Not parts: a dotfile, edgekeyctl's side files, another extension, a directory.
  f.put(".hidden.yaml", keyset_item("key_h", 9));
  testing::write_file(f.part("a.yaml.index"), "not an index");
  testing::write_file(f.part("notes.txt"), "keys:\n" + keyset_item("key_t", 10));
  ::mkdir(f.part("sub.yaml").c_str(), 0755);
  ASSERT_TRUE(f.source->start());
  EXPECT_EQ(f.applier->size(), 3u);
  EXPECT_TRUE(f.in_table(1) && f.in_table(2) && f.in_table(3));
  EXPECT_FALSE(f.in_table(5) || f.in_table(9) || f.in_table(10));
  ASSERT_TRUE(f.id("key_b"));
  EXPECT_FALSE(f.id("key_d"));
  ASSERT_EQ(f.warnings.size(), 2u);
  EXPECT_TRUE(f.logged(f.warnings, f.part("b.yaml") + ":9: key key_d: field \"hash\"", f.part("a.yaml")));
  EXPECT_TRUE(f.logged(f.warnings, f.part("b.yaml") + ":16: key key_a: field \"id\"", f.part("a.yaml")));
  EXPECT_TRUE(f.logged(f.infos, "loaded 3 keys from 2 part(s)"));

  // a.yaml drops key_b: key_d, which repeated its hash, takes it over.
  f.put("a.yaml", keyset_item("key_a", 1));
  ASSERT_TRUE(f.reload());
  ASSERT_TRUE(f.id("key_d"));
  EXPECT_FALSE(f.id("key_b"));
  EXPECT_TRUE(f.in_table(2));
  EXPECT_EQ(f.applier->size(), 3u);

  // A repeat made later is rejected too, naming its file and line; the key stays its holder's.
  f.put("a.yaml", keyset_item("key_a", 1) + keyset_item("key_x", 3));
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(f.id("key_x"));
  ASSERT_TRUE(f.id("key_c"));
  EXPECT_TRUE(f.logged(f.warnings, f.part("a.yaml") + ":9: key key_x: field \"hash\"", f.part("b.yaml")));
}

TEST(KeysetDir, APartAddedBrokenFixedAndRemoved) {
  DirFixture f;
  f.put("a.yaml", keyset_item("key_a", 1));
  ASSERT_TRUE(f.source->start());
  EXPECT_EQ(f.applier->size(), 1u);

  f.put("c.yaml", keyset_item("key_c", 3));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.in_table(3));
  EXPECT_TRUE(f.logged(f.infos, "new part c.yaml"));

  // c.yaml broken, a.yaml changed in the same read: c's keys stay, a's change applies.
  testing::write_file(f.part("c.yaml"), "keys: [\n  - id: key_c\n");
  f.put("a.yaml", keyset_item("key_a", 1) + keyset_item("key_a2", 4));
  EXPECT_FALSE(f.reload());
  EXPECT_FALSE(f.source->healthy());
  EXPECT_TRUE(f.in_table(3));
  EXPECT_TRUE(f.in_table(4));
  EXPECT_TRUE(f.logged(f.warnings, f.part("c.yaml")));

  // Fixed, with one more key.
  f.put("c.yaml", keyset_item("key_c", 3) + keyset_item("key_e", 6));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.source->healthy());
  EXPECT_TRUE(f.in_table(3) && f.in_table(6));
  EXPECT_EQ(f.applier->size(), 4u);

  // Removed: its keys go, the others stay.
  ASSERT_EQ(::unlink(f.part("c.yaml").c_str()), 0);
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(f.in_table(3) || f.in_table(6));
  EXPECT_TRUE(f.in_table(1) && f.in_table(4));
  EXPECT_EQ(f.applier->size(), 2u);
}

TEST(KeysetDir, AnEditReReadsOnlyItsPart) {
  DirFixture f(1024);
  f.put("a.yaml", filler("a", 1000, 200));
  f.put("b.yaml", filler("b", 2000, 200));
  ASSERT_TRUE(f.source->start());
  EXPECT_EQ(f.applier->size(), 400u);
  // As edgekeyctl edits a part: spliced, with the note for edgekeyd.
  {
    const std::string path = f.part("b.yaml");
    MappedFile file(path);
    KeysetEditor e;
    ASSERT_TRUE(e.read(file.text(), path));
    std::optional<KeyRecord> r = e.find("key_b_7");
    ASSERT_TRUE(r);
    r->status = KeyStatus::Revoked;
    r->revoked_at = testing::kCreated;
    KeyRecord fresh = testing::minimal_record("key_new");
    fresh.hash = hash_n(5000);
    fresh.role = "viewer";
    e.write(path, {*r, fresh}, file.fd(), &file.stamp());
  }
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.warnings.empty()) << f.warnings.front();
  ASSERT_TRUE(f.id("key_b_7"));
  EXPECT_EQ(f.id("key_b_7")->status, KeyStatus::Revoked);
  EXPECT_TRUE(f.in_table(5000));
  EXPECT_TRUE(f.logged(f.infos, f.part("b.yaml") + ": changed, read again"));
  EXPECT_TRUE(f.logged(f.infos, f.part("b.yaml"), "item(s) read again"));  // and only its changed items
  EXPECT_FALSE(f.logged(f.infos, f.part("a.yaml")));
}

using testing::mint_key;

TEST(KeysetDir, AKeyMovedBetweenPartsIsNeverMissing) {
  DirFixture f(16384);
  const testing::MintedKey m = mint_key();
  const std::string moved = keyset_item("key_moved", m.hash);
  f.put("a.yaml", filler("a", 10000, 3000) + moved);
  f.put("b.yaml", filler("b", 20000, 3000));
  ASSERT_TRUE(f.source->start());
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(f.opts.name.c_str(), &v), 0);

  // A second thread asks the library for the key until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<long> asked{0}, missing{0};
  std::thread reader([&] {
    ek_request q{};
    q.authorization = m.token.c_str();
    while (!stop.load()) {
      ek_result r{};
      if (ek_validate(v, &q, &r) != 0 || r.code != EK_CODE_OK) ++missing;
      ++asked;
    }
  });
  auto answered = [&](long n) {  // the reader answered n more times (a deadline, no sleep)
    const long target = asked.load() + n;
    for (int spins = 0; asked.load() < target && spins < 100000000; ++spins) std::this_thread::yield();
  };
  answered(100);

  // a -> b, in two reads: b puts it first (a claim while a holds it), then a drops it.
  f.put("b.yaml", filler("b", 20000, 3000) + moved);
  ASSERT_TRUE(f.reload());
  answered(100);
  f.put("a.yaml", filler("a", 10000, 3000));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.logged(f.infos, "key key_moved taken over from " + f.part("a.yaml")));
  answered(100);

  // b -> a in one read (a, read first, puts it; b drops it).
  f.put("b.yaml", filler("b", 20000, 3000));
  f.put("a.yaml", filler("a", 10000, 3000) + moved);
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.logged(f.infos, "key key_moved taken over from " + f.part("b.yaml")));
  answered(100);

  // a -> b in one read: a, read first, drops it; the removal waits until b was read.
  f.put("a.yaml", filler("a", 10000, 3000));
  f.put("b.yaml", filler("b", 20000, 3000) + moved);
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.logged(f.infos, "key key_moved taken over from " + f.part("a.yaml")));
  answered(100);

  stop = true;
  reader.join();
  EXPECT_EQ(missing.load(), 0) << "of " << asked.load() << " answers";
  ASSERT_TRUE(f.id("key_moved"));
  EXPECT_EQ(f.applier->size(), 6001u);
  EXPECT_TRUE(f.warnings.empty() || f.logged(f.warnings, "taken over if"));
  ek_close(v);
}

}  // namespace
}  // namespace edgekey::sync
