// edgekeyctl's index of the keyset file (keyset_index.hpp): an editor that
// takes it instead of decoding every record makes the same edits, byte for
// byte, and hands back the index a fresh read of the new file gives; an
// index is used only for the file version it names and only when it reads
// back whole. And the copying replacement under both (atomic_file.hpp).
#include "sync/record/atomic_file.hpp"
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <filesystem>
#include <unistd.h>

namespace edgekey::sync {
namespace {

using testing::hash_n;
using testing::minimal_record;

std::string item(const std::string &id, unsigned h, const std::string &extra = "") {
  return "  - id: " + id + "\n    hash: " + hash_n(h) +
         "\n    workspace: ws_a\n    type: secret\n    env: live\n    role: viewer\n    status: active\n" + extra;
}

bool same_entries(const std::vector<KeysetIndexEntry> &a, const std::vector<KeysetIndexEntry> &b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].id_key != b[i].id_key || a[i].hash_head != b[i].hash_head || a[i].begin != b[i].begin ||
        a[i].end != b[i].end)
      return false;
  return true;
}

KeyRecord put(const std::string &id, unsigned h, const std::string &name = "") {
  KeyRecord r = minimal_record(id);
  r.hash = hash_n(h);
  r.name = name;
  return r;
}

TEST(KeysetIndex, EditsFromTheIndexEqualEditsFromAFullRead) {
  testing::TempDir dir;
  const std::string body = "# hand-written\nkeys:\n" + item("key_a", 1, "    # about a\n") + "\n  # keep me\n" +
                           item("key_b", 2) + item("key_c", 3) + item("key_d", 4, "    name: a much longer name\n");
  const std::vector<std::vector<KeyRecord>> cases = {
      {put("key_b", 2, "now with a name")},                              // longer, in the middle
      {put("key_d", 4)},                                                  // shorter, the last item
      {put("key_new", 9)},                                                // appended
      {put("key_c", 3, "c"), put("key_x", 10), put("key_a", 1, "first"), put("key_y", 11)},
      {put("key_b", 2, "once"), put("key_b", 2, "twice")},               // the later put wins
  };
  for (const bool final_newline : {true, false}) {
    const std::string text = final_newline ? body : body.substr(0, body.size() - 1);
    for (size_t c = 0; c < cases.size(); ++c) {
      SCOPED_TRACE("case " + std::to_string(c) + (final_newline ? "" : ", no final newline"));
      const std::string path = dir.file("keys.yaml"), full_path = dir.file("full.yaml");
      testing::write_file(path, text);
      MappedFile f(path);
      ASSERT_TRUE(f.error().empty()) << f.error();
      KeysetEditor full, indexed;
      ASSERT_TRUE(full.read(f.text(), path));
      ASSERT_TRUE(indexed.adopt(f.text(), full.index(f.stamp())));
      EXPECT_EQ(indexed.size(), 4u);
      ASSERT_TRUE(indexed.find("key_c"));
      EXPECT_EQ(*indexed.find("key_c"), *full.find("key_c"));
      EXPECT_FALSE(indexed.find("key_zz"));
      EXPECT_EQ(indexed.hash_owner(hash_n(3), "key_new"), std::optional<std::string>("key_c"));

      const KeysetIndex by_full = full.write(full_path, cases[c]);             // copied through memory
      const KeysetIndex by_index = indexed.write(path, cases[c], f.fd());      // copied by the kernel
      const std::string written = testing::read_file(path);
      EXPECT_EQ(written, testing::read_file(full_path));
      EXPECT_TRUE(same_entries(by_full.entries, by_index.entries));
      // The index handed back is what a fresh read of the new file gives, stamped as the file is now.
      MappedFile g(path);
      KeysetEditor fresh;
      ASSERT_TRUE(fresh.read(g.text(), path));
      EXPECT_TRUE(same_entries(by_index.entries, fresh.index(g.stamp()).entries));
      EXPECT_EQ(by_index.stamp, g.stamp());
      EXPECT_EQ(by_index.dash_column, 2u);
      KeysetParse p = parse_keyset_yaml(written);
      EXPECT_TRUE(p.rejected.empty());
      for (const KeyRecord &r : cases[c]) {
        ASSERT_TRUE(fresh.find(r.id)) << r.id;
        if (r.name != "once") {
          EXPECT_EQ(*fresh.find(r.id), r);
        }
      }
    }
  }
}

TEST(KeysetIndex, UsedOnlyForTheFileVersionItNamesAndWhenItReadsBackWhole) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.yaml"), index_path = keyset_index_path(path);
  EXPECT_EQ(index_path, path + ".index");
  testing::write_file(path, "keys:\n" + item("key_a", 1) + item("key_b", 2));
  MappedFile f(path);
  KeysetEditor e;
  ASSERT_TRUE(e.read(f.text(), path));
  EXPECT_FALSE(load_keyset_index(index_path, f.stamp())) << "no index yet";
  save_keyset_index(index_path, e.index(f.stamp()));
  std::optional<KeysetIndex> back = load_keyset_index(index_path, f.stamp());
  ASSERT_TRUE(back);
  EXPECT_TRUE(same_entries(back->entries, e.index(f.stamp()).entries));
  EXPECT_EQ(std::filesystem::status(index_path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0640));

  for (int field = 0; field < 5; ++field) {
    FileStamp other = f.stamp();
    switch (field) {
      case 0: other.dev += 1; break;
      case 1: other.ino += 1; break;
      case 2: other.size += 1; break;
      case 3: other.mtime_ns += 1; break;
      default: other.ctime_ns += 1; break;
    }
    EXPECT_FALSE(load_keyset_index(index_path, other)) << "field " << field;
  }
  // A torn or altered index is not used.
  const std::string bytes = testing::read_file(index_path);
  testing::write_file(index_path, bytes.substr(0, bytes.size() - 8));
  EXPECT_FALSE(load_keyset_index(index_path, f.stamp()));
  std::string flipped = bytes;
  flipped[bytes.size() - 5] ^= 1;
  testing::write_file(index_path, flipped);
  EXPECT_FALSE(load_keyset_index(index_path, f.stamp()));
  testing::write_file(index_path, bytes);
  EXPECT_TRUE(load_keyset_index(index_path, f.stamp()));

  // An index whose items lie beyond the text does not fit it.
  KeysetEditor short_text;
  EXPECT_FALSE(short_text.adopt(f.text().substr(0, 40), *back));
}

// KeysetEditor::scan, the first edit's check: each item's id and hash
// only, the text split in two halves above 8 MiB. It indexes what a full
// read indexes, and refuses what it cannot vouch for.
TEST(KeysetIndex, ScanIndexesWhatAFullReadIndexes) {
  testing::TempDir dir;
  for (const size_t n : {size_t(5), size_t(45000)}) {  // 45000 items: ~9 MiB, two halves
    SCOPED_TRACE(n);
    std::string text = "# hand-written\nkeys:\n";
    for (size_t i = 0; i < n; ++i) {
      const std::string id = "key_" + std::to_string(i);
      text += i % 3 == 0 ? item("'" + id + "'", unsigned(i + 1), "    # note\n")
              : i % 3 == 1 ? item("\"" + id + "\"", unsigned(i + 1), "\n")
                           : item(id, unsigned(i + 1), "    name: x\n");
    }
    const std::string path = dir.file("keys.yaml");
    testing::write_file(path, text);
    MappedFile f(path);
    KeysetEditor full, scanned;
    ASSERT_TRUE(full.read(f.text(), path));
    ASSERT_TRUE(scanned.scan(f.text(), path));
    EXPECT_EQ(scanned.size(), n);
    EXPECT_TRUE(same_entries(scanned.index(f.stamp()).entries, full.index(f.stamp()).entries));
    EXPECT_EQ(scanned.index(f.stamp()).dash_column, 2u);
    const std::string last = "key_" + std::to_string(n - 1);
    ASSERT_TRUE(scanned.find(last));
    EXPECT_EQ(*scanned.find(last), *full.find(last));
    EXPECT_EQ(scanned.hash_owner(hash_n(unsigned(n)), "key_new"), std::optional<std::string>(last));
  }
}

TEST(KeysetIndex, ScanRefusesWhatItCannotVouchFor) {
  testing::TempDir dir;
  std::string many;  // enough for two halves, so a repeat across them is seen too
  for (unsigned i = 0; i < 45000; ++i) many += item("key_" + std::to_string(i), i + 100);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no id", "  - hash: " + hash_n(1) + "\n    workspace: ws\n"},
      {"a hash that does not parse", item("key_x", 1).replace(item("key_x", 1).find("sha256:"), 7, "md5:")},
      {"the id twice", item("key_x", 1, "    id: key_y\n")},
      {"a multi-line id", "  - id: |\n      key_x\n    hash: " + hash_n(1) + "\n"},
      {"an id repeated", item("key_x", 1) + item("key_x", 2)},
      {"a hash repeated", item("key_x", 1) + item("key_y", 1)},
      {"a hash repeated across the halves", many + item("key_x", 100)},  // the first item's, in the last
      {"an id repeated across the halves", many + item("key_0", 1)},
  };
  for (const auto &[what, items] : cases) {
    SCOPED_TRACE(what);
    const std::string path = dir.file("keys.yaml");
    testing::write_file(path, "keys:\n" + items);
    MappedFile f(path);
    KeysetEditor e;
    EXPECT_FALSE(e.scan(f.text(), path));
  }
}

// What scan() does not judge: a record whose other fields do not load is
// kept byte for byte by an edit, and looking it up says where it is.
TEST(KeysetIndex, ARecordThatDoesNotLoadIsKeptAndReportedWhenLookedUp) {
  testing::TempDir dir;
  const std::string bad = "  - id: key_bad\n    hash: " + hash_n(2) +
                          "\n    workspace: ws_a\n    type: admin\n    env: live\n    role: viewer\n    status: active\n";
  const std::string text = "keys:\n" + item("key_a", 1) + bad + item("key_c", 3);
  const std::string path = dir.file("keys.yaml");
  testing::write_file(path, text);
  MappedFile f(path);
  KeysetEditor e;
  ASSERT_TRUE(e.scan(f.text(), path));
  EXPECT_EQ(e.size(), 3u);
  try {
    e.find("key_bad");
    ADD_FAILURE() << "no error for a record that does not load";
  } catch (const KeysetError &err) {
    const std::string m = err.what();
    EXPECT_NE(m.find(path + ":12:"), std::string::npos) << m;  // the `type:` line
    EXPECT_NE(m.find("key_bad"), std::string::npos) << m;
    EXPECT_NE(m.find("type"), std::string::npos) << m;
  }
  // Its id and hash still count.
  EXPECT_EQ(e.hash_owner(hash_n(2), "key_new"), std::optional<std::string>("key_bad"));
  ASSERT_TRUE(e.find("key_c"));
  e.write(path, {put("key_new", 9)}, f.fd());
  EXPECT_EQ(testing::read_file(path).substr(0, text.size()), text);
  KeysetParse p = parse_keyset_yaml(testing::read_file(path), path);
  ASSERT_EQ(p.rejected.size(), 1u);
  EXPECT_EQ(p.rejected[0].key_id, "key_bad");
  EXPECT_EQ(p.records.size(), 3u);
}

// save_keyset_index over an index already there rewrites it in place (the
// same file); what is read back is the new index only.
TEST(KeysetIndex, SavedOverAnOlderIndexInPlace) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.yaml"), index_path = keyset_index_path(path);
  testing::write_file(path, "keys:\n" + item("key_a", 1) + item("key_b", 2) + item("key_c", 3));
  KeysetIndex bigger;
  {
    MappedFile f(path);
    KeysetEditor e;
    ASSERT_TRUE(e.read(f.text(), path));
    bigger = e.index(f.stamp());
    save_keyset_index(index_path, bigger);
  }
  const auto ino = std::filesystem::status(index_path).type() == std::filesystem::file_type::regular
                       ? testing::read_file(index_path).size() : 0;
  EXPECT_EQ(ino, 72u + 3 * 32);
  struct stat before{};
  ASSERT_EQ(::stat(index_path.c_str(), &before), 0);
  testing::write_file(path, "keys:\n" + item("key_a", 1));
  MappedFile g(path);
  KeysetEditor e;
  ASSERT_TRUE(e.read(g.text(), path));
  save_keyset_index(index_path, e.index(g.stamp()));
  struct stat after{};
  ASSERT_EQ(::stat(index_path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_size, 72 + 32);
  std::optional<KeysetIndex> back = load_keyset_index(index_path, g.stamp());
  ASSERT_TRUE(back);
  EXPECT_TRUE(same_entries(back->entries, e.index(g.stamp()).entries));
  EXPECT_FALSE(load_keyset_index(index_path, bigger.stamp));
}

// edgekeyctl's splice note reads back as written, and not at all when cut
// short or changed (edgekeyd then compares the files).
TEST(KeysetIndex, ASpliceNoteReadsBackOnlyWhole) {
  testing::TempDir dir;
  const std::string path = keyset_note_path(dir.file("keys.yaml"));
  EXPECT_EQ(path, dir.file("keys.yaml.splice"));
  EXPECT_FALSE(load_keyset_note(path));
  KeysetSpliceNote n;
  n.before = FileStamp{1, 2, 300, 4, 5};
  n.after = FileStamp{1, 7, 310, 9, 10};
  n.prefix = 120;
  n.suffix = 40;
  save_keyset_note(path, n);
  std::optional<KeysetSpliceNote> back = load_keyset_note(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->before, n.before);
  EXPECT_EQ(back->after, n.after);
  EXPECT_EQ(back->prefix, 120u);
  EXPECT_EQ(back->suffix, 40u);
  std::string bytes = testing::read_file(path);
  testing::write_file(path, bytes.substr(0, bytes.size() - 1));
  EXPECT_FALSE(load_keyset_note(path)) << "cut short";
  bytes[8 * 11] ^= 1;  // the prefix
  testing::write_file(path, bytes);
  EXPECT_FALSE(load_keyset_note(path)) << "changed";
  save_keyset_note(path, n);  // over a bad one, in place
  EXPECT_TRUE(load_keyset_note(path));
  // A new note is as readable as its keyset (edgekeyd may be another user).
  const std::string other = dir.file("other.yaml");
  testing::write_file(other, "keys: []\n");
  ASSERT_EQ(::chmod(other.c_str(), 0644), 0);
  save_keyset_note(keyset_note_path(other), n, other);
  struct stat st{};
  ASSERT_EQ(::stat(keyset_note_path(other).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  // Its bounds are checked against the two texts.
  const std::string a = "keys:\n  - id: a\n  - id: b\n", b = "keys:\n  - id: a\n  - id: c\n";
  KeysetSpliceNote t;
  t.before.size = a.size();
  t.after.size = b.size();
  t.prefix = a.find("b");
  t.suffix = 1;
  EXPECT_TRUE(keyset_note_fits(t, a, b));
  t.prefix = a.size();  // "all alike"
  t.suffix = 0;
  EXPECT_FALSE(keyset_note_fits(t, a, b));
  t.prefix = 3;
  t.suffix = a.size();  // past the end
  EXPECT_FALSE(keyset_note_fits(t, a, b));
  t.suffix = 0;
  t.after.size = b.size() + 1;  // another text than the one it names
  EXPECT_FALSE(keyset_note_fits(t, a, b));
}

TEST(AtomicFile, CopyingReplacementTakesRangesOfAnotherFile) {
  testing::TempDir dir;
  const std::string src = dir.file("src"), path = dir.file("out");
  testing::write_file(src, "0123456789abcdef");
  testing::write_file(path, "old");
  const int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const FileStamp st = replace_file_copying(path, [&](FileAppender &out) {
    out.copy(fd, 10, 6);
    out.append("-");
    out.copy(fd, 0, 4);
    EXPECT_EQ(out.size(), 11u);
  }, 0600);
  EXPECT_EQ(testing::read_file(path), "abcdef-0123");
  EXPECT_EQ(st.size, 11u);
  // A range past the source's end: nothing replaced, no temp file left.
  EXPECT_THROW(replace_file_copying(path, [&](FileAppender &out) { out.copy(fd, 8, 100); }, 0600), KeysetError);
  EXPECT_EQ(testing::read_file(path), "abcdef-0123");
  size_t files = 0;
  for (const auto &e : std::filesystem::directory_iterator(dir.path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    ++files;
  }
  EXPECT_EQ(files, 2u);
  ::close(fd);
}

}  // namespace
}  // namespace edgekey::sync
