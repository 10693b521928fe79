// edgekeyd's file upstream (FileSource) re-reading a keyset against what the
// Applier holds: changes, removals, rejections and duplicates applied as a
// fresh parse of the file would give them, whether an item is decoded or
// recognised by its bytes from the read before, and whether the whole file
// is read again or (a file replaced by rename, changed in one place) only
// the items that changed.
#include "sync/record/keyset_edit.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/file_source.hpp"
#include "file_source_fixture.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/table_writer.hpp"

#include <gtest/gtest.h>
#include <uv.h>

#include <random>
#include <set>
#include <unistd.h>

namespace edgekey::sync {
namespace {

using testing::hash_n;

using testing::keyset_item;

struct Fixture : testing::FileSourceFixture {
  explicit Fixture(const std::string &name = "")
      : FileSourceFixture("keys.yaml", false, "ek-file-source-test-" + name, 64) {}
  void write(const std::string &text) { testing::write_file(path, "keys:\n" + text); }
  // As edgekeyctl and most editors do: a new file renamed over the old.
  void replace(const std::string &text) { replace_file_atomically(path, "keys:\n" + text, 0640); }
  bool reload() {
    infos.clear();
    return source->reload();
  }
  // The last reload() read only the items that changed (and some did).
  bool spliced() const { return !infos.empty() && infos.back().find("read again") != std::string::npos; }
};

TEST(FileSource, RereadsApplyWhatAFreshParseGives) {
  Fixture f;
  f.write(keyset_item("key_a", 1) + keyset_item("key_b", 2) + keyset_item("key_c", 3));
  ASSERT_TRUE(f.source->start());
  ASSERT_EQ(f.applier->size(), 3u);

  // a changed, b as it was, c gone, d new (this read decodes every item)
  f.write(keyset_item("key_a", 1, "    name: renamed\n") + keyset_item("key_b", 2) + keyset_item("key_d", 4));
  ASSERT_TRUE(f.source->reload());
  EXPECT_EQ(f.applier->size(), 3u);
  ASSERT_TRUE(f.id("key_a"));
  EXPECT_EQ(f.id("key_a")->name, "renamed");
  EXPECT_FALSE(f.id("key_c"));
  EXPECT_FALSE(f.in_table(3));
  EXPECT_TRUE(f.in_table(4));
  EXPECT_TRUE(f.warnings.empty());

  // The same bytes again (recognised, not decoded), plus a bad record.
  f.write(keyset_item("key_a", 1, "    name: renamed\n") + keyset_item("key_b", 2) + keyset_item("key_d", 4) +
          keyset_item("key_e", 5, "    type: admin\n"));
  ASSERT_TRUE(f.source->reload());
  EXPECT_EQ(f.applier->size(), 3u);
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("key key_e: field \"type\""), std::string::npos) << f.warnings[0];
  EXPECT_NE(f.warnings[0].find("(skipped)"), std::string::npos) << f.warnings[0];

  // A new record before b with b's hash: the first stays (key_x), b is a
  // duplicate; b's previous version is kept as long as the file has it, so
  // key_x, taking its hash, replaces it.
  f.warnings.clear();
  f.write(keyset_item("key_x", 2) + keyset_item("key_a", 1, "    name: renamed\n") + keyset_item("key_b", 2) + keyset_item("key_d", 4));
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
  f.write(keyset_item("key_a", 1, "    name: renamed\n") + keyset_item("key_b", 2) + keyset_item("key_d", 4));
  ASSERT_TRUE(f.source->reload());
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0];
  EXPECT_TRUE(f.id("key_b"));
  EXPECT_FALSE(f.id("key_x"));
  EXPECT_EQ(f.applier->size(), 3u);

  // A record given twice: the second copy (recognised by its bytes) is a duplicate of the first.
  f.write(keyset_item("key_a", 1, "    name: renamed\n") + keyset_item("key_b", 2) + keyset_item("key_d", 4) + keyset_item("key_b", 2));
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

std::string items(const std::vector<std::string> &v) {
  std::string s;
  for (const auto &i : v) s += i;
  return s;
}

// A read cut short (std::bad_alloc inside it) reaches neither the loop nor
// the process: it is logged, and a second later, with no further change to
// the file, the file is read again as a whole load, which leaves the table
// as the file says.
TEST(FileSource, AReadCutShortIsReadAgainWhole) {
  Fixture f("cut");
  f.write(keyset_item("key_a", 1) + keyset_item("key_b", 2));
  ASSERT_TRUE(f.source->start());
  ASSERT_EQ(f.applier->size(), 2u);
  // The loop runs until `done` or for at most 5 s.
  uv_timer_t guard;
  uv_timer_init(&f.loop, &guard);
  auto run_until = [&](auto done) {
    uv_timer_start(&guard, [](uv_timer_t *t) { uv_stop(t->loop); }, 5000, 0);
    while (!done() && uv_run(&f.loop, UV_RUN_ONCE) != 0 && uv_is_active(reinterpret_cast<uv_handle_t *>(&guard))) {
    }
    uv_timer_stop(&guard);
    return done();
  };
  auto cut_short = [&] {
    for (const auto &w : f.warnings)
      if (w.find("not read (std::bad_alloc); the table keeps its keys; reading it again in 1 s") != std::string::npos)
        return true;
    return false;
  };

  // b gone, c new, and a bad record: the read the change starts fails where
  // it logs that record's warning.
  f.fail_at = "(skipped)";
  f.write(keyset_item("key_a", 1) + keyset_item("key_c", 3) + keyset_item("key_e", 5, "    type: admin\n"));
  EXPECT_TRUE(run_until(cut_short)) << "no read was cut short";
  EXPECT_FALSE(f.source->healthy());

  // Memory back; the file unchanged since: the retry reads it whole.
  f.fail_at.clear();
  f.warnings.clear();
  f.infos.clear();
  EXPECT_TRUE(run_until([&] { return f.source->healthy(); })) << "not read again";
  uv_close(reinterpret_cast<uv_handle_t *>(&guard), nullptr);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(f.applier->size(), 2u);
  EXPECT_TRUE(f.in_table(1));
  EXPECT_FALSE(f.in_table(2));
  EXPECT_TRUE(f.in_table(3));
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find("key key_e"), std::string::npos) << f.warnings[0];
  ASSERT_FALSE(f.infos.empty());
  EXPECT_NE(f.infos.back().find(": loaded 2 keys"), std::string::npos) << f.infos.back();
}

TEST(FileSource, AFileReplacedWithAnEditInOnePlaceIsReadThereOnly) {
  Fixture f;
  std::vector<std::string> v = {keyset_item("key_a", 1), keyset_item("key_b", 2), keyset_item("key_c", 3), keyset_item("key_d", 4)};
  f.replace(items(v));
  ASSERT_TRUE(f.source->start());
  ASSERT_EQ(f.applier->size(), 4u);

  v[1] = keyset_item("key_b", 2, "    name: renamed\n");  // changed in the middle
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced()) << f.infos.back();
  ASSERT_TRUE(f.id("key_b"));
  EXPECT_EQ(f.id("key_b")->name, "renamed");

  v.push_back(keyset_item("key_e", 5));  // appended
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_TRUE(f.in_table(5));

  v.erase(v.begin() + 2);  // c removed
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_FALSE(f.id("key_c"));
  EXPECT_FALSE(f.in_table(3));

  v.back() = keyset_item("key_e", 5, "    name: last");  // the last item, no final newline
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_EQ(f.id("key_e")->name, "last");
  v.back() += "\n";

  v.insert(v.begin(), keyset_item("key_x", 9));  // before the first item, whose "- " stays where it was
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_TRUE(f.in_table(9));
  EXPECT_EQ(f.applier->size(), 5u);

  replace_file_atomically(f.path, "# the head changed\nkeys:\n" + items(v), 0640);  // read whole
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(f.spliced());
  EXPECT_EQ(f.applier->size(), 5u);
  f.replace(items(v));

  // A record taking the hash of a key outside the change: the whole file is
  // read, and the duplicate reported as a fresh parse reports it.
  v[3] = keyset_item("key_d", 1);
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(f.spliced());
  ASSERT_EQ(f.warnings.size(), 1u);
  EXPECT_NE(f.warnings[0].find(":24: key key_d: field \"hash\": duplicate: same hash as key key_a at line 9"),
            std::string::npos)
      << f.warnings[0];
  EXPECT_TRUE(f.in_table(4)) << "its previous version stays";
  f.warnings.clear();

  v[3] = keyset_item("key_d", 4);  // fixed: read whole (the last read was not clean), then in one place again
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.warnings.empty());
  v[2] = keyset_item("key_b", 2, "    name: again\n");
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_EQ(f.id("key_b")->name, "again");

  // The file read last, written in place (through another link) before it
  // was replaced: its bytes are not what was applied, so the whole new file is read.
  const std::string link = f.tmp.file("old-link");
  ASSERT_EQ(::link(f.path.c_str(), link.c_str()), 0);
  v.push_back(keyset_item("key_f", 6));
  testing::write_file(link, "keys:\n" + items(v));
  f.replace(items(v));
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(f.spliced());
  EXPECT_TRUE(f.in_table(6)) << "key_f was missed";
  EXPECT_TRUE(f.warnings.empty());
}

// edgekeyctl's splice (KeysetEditor::write with the old file's stamp) notes
// what it changed: edgekeyd reads only there, without comparing the files.
// A note that is not of exactly the two versions edgekeyd holds (a person
// edited the file since, elsewhere) or does not fit them is not used: the
// files are compared and every change is applied.
TEST(FileSource, AChangeEdgekeyctlNotedIsReadThereAndOnlyForTheFilesItNames) {
  Fixture f;
  std::vector<std::string> v = {keyset_item("key_a", 1), keyset_item("key_b", 2), keyset_item("key_c", 3), keyset_item("key_d", 4)};
  f.replace(items(v));
  ASSERT_TRUE(f.source->start());
  ASSERT_EQ(f.applier->size(), 4u);
  auto ctl_put = [&](const std::string &id, const std::string &name, unsigned hash = 0) {  // as edgekeyctl writes
    KeyRecord r = *f.id("key_a");
    if (const KeyRecord *old = f.id(id)) r = *old;
    r.id = id;
    r.name = name;
    if (hash) r.hash = hash_n(hash);
    MappedFile m(f.path);
    KeysetEditor e;
    ASSERT_TRUE(e.scan(m.text(), f.path));
    e.write(f.path, {r}, m.fd(), &m.stamp());
  };
  auto text = [&] { return testing::read_file(f.path); };
  auto noted = [&] { return f.spliced() && f.infos.back().find("edgekeyctl noted") != std::string::npos; };

  ctl_put("key_b", "renamed");  // in the middle
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(noted()) << (f.infos.empty() ? "no log" : f.infos.back());
  EXPECT_EQ(f.id("key_b")->name, "renamed");
  ctl_put("key_e", "new", 5);  // appended
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(noted());
  EXPECT_TRUE(f.in_table(5));
  EXPECT_EQ(f.applier->size(), 5u);

  // A person's edit after edgekeyctl's, before edgekeyd reads: the note
  // names a file that is no longer there.
  ctl_put("key_c", "by edgekeyctl");
  std::string t = text();
  ASSERT_NE(t.find("name: new"), std::string::npos);
  t.replace(t.find("name: new"), 9, "name: by a person");  // key_e, the last item
  replace_file_atomically(f.path, t, 0640);
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_FALSE(noted());
  EXPECT_EQ(f.id("key_c")->name, "by edgekeyctl");
  EXPECT_EQ(f.id("key_e")->name, "by a person");

  // The same, written in place over the file edgekeyctl wrote.
  ctl_put("key_d", "by edgekeyctl");
  t = text();
  t.replace(t.find("name: by a person"), 17, "name: in place, by a person");
  testing::write_file(f.path, t);
  ASSERT_TRUE(f.reload());
  EXPECT_FALSE(noted());
  EXPECT_EQ(f.id("key_d")->name, "by edgekeyctl");
  EXPECT_EQ(f.id("key_e")->name, "in place, by a person");

  // A note of the right two files whose bounds do not fit them (here: a
  // change claimed at the end, made in the middle) is not used either.
  f.replace(text().substr(6));  // a new version read whole: the next splice has it to compare
  ASSERT_TRUE(f.reload());
  ctl_put("key_b", "again");
  std::optional<KeysetSpliceNote> note = load_keyset_note(keyset_note_path(f.path));
  ASSERT_TRUE(note);
  note->prefix = note->after.size - 1;
  note->suffix = 0;
  save_keyset_note(keyset_note_path(f.path), *note);
  ASSERT_TRUE(f.reload());
  EXPECT_TRUE(f.spliced());
  EXPECT_FALSE(noted());
  EXPECT_EQ(f.id("key_b")->name, "again");
  EXPECT_TRUE(f.warnings.empty()) << f.warnings[0];
}

// Random edits of one file, applied by a source reading the file replaced
// (spliced where it can) and by one reading it written in place (always
// whole): the two hold the same keys and log the same lines after each.
TEST(FileSource, SplicedRereadsAgreeWithWholeRereads) {
  Fixture spliced("s"), whole("w");
  std::mt19937 rng(21);
  auto pick = [&](size_t n) { return size_t(rng() % n); };
  struct It {
    unsigned id, hash;
    std::string extra;
  };
  std::vector<It> v;
  unsigned next = 1;
  for (; next <= 30; ++next) v.push_back({next, next, ""});
  auto text = [&] {
    std::string s;
    for (const It &i : v) s += keyset_item("key_" + std::to_string(i.id), i.hash, i.extra);
    return s;
  };
  spliced.replace(text());
  whole.write(text());
  ASSERT_TRUE(spliced.source->start());
  ASSERT_TRUE(whole.source->start());
  int splices = 0;
  for (int step = 0; step < 400; ++step) {
    const int edits = 1 + int(pick(4) == 0);  // sometimes two places at once
    for (int k = 0; k < edits; ++k) {
      const size_t i = pick(v.size());
      const unsigned old_id = 1 + unsigned(pick(next - 1)), old_hash = 1 + unsigned(pick(next - 1));
      switch (pick(12)) {
        case 0: v.erase(v.begin() + long(i)); break;
        case 1: v.insert(v.begin() + long(i), It{next, next, ""}), ++next; break;
        case 2: v[i] = {old_id, old_hash, ""}; break;                       // may repeat an id or a hash
        case 3: v[i] = {old_id, next++, "    type: admin\n"}; break;       // does not load
        case 4: v[i] = {old_id, next++, "    role: developer\n"}; break;   // refused: no such role here
        case 5: v[i].extra += "  # a comment\n"; break;
        case 6: v[i] = {next, next, ""}, ++next; break;                      // a new key in its place
        case 7: v[i].extra = "    name: n" + std::to_string(step) + "\n"; break;
        case 8: v[i] = {v[i].id, next++, ""}; break;                        // a new hash, the same id
        default: {  // every bad item replaced by a new key: the file is clean again
          std::set<unsigned> ids, hashes;
          for (It &x : v)
            if (!x.extra.empty() && x.extra[4] != 'n' && x.extra[2] != '#') x = {next, next, ""}, ++next;
          for (It &x : v) {
            if (!ids.insert(x.id).second || !hashes.insert(x.hash).second) x = {next, next, ""}, ++next;
            ids.insert(x.id);
            hashes.insert(x.hash);
          }
          break;
        }
      }
      if (v.empty()) v.push_back({next, next, ""}), ++next;
    }
    SCOPED_TRACE("step " + std::to_string(step) + ":\n" + text());
    spliced.replace(text());
    whole.write(text());
    ASSERT_TRUE(spliced.reload());
    ASSERT_TRUE(whole.source->reload());
    splices += spliced.spliced();
    ASSERT_EQ(spliced.applier->records(), whole.applier->records());
    ASSERT_EQ(spliced.writer->stats().live, whole.writer->stats().live);
    for (const KeyRecord &r : whole.applier->records()) {
      TokenHash h;
      ASSERT_TRUE(parse_record_hash(r.hash, h));
      ASSERT_TRUE(spliced.writer->get(h).has_value()) << r.id;
    }
    auto lines = [](const Fixture &f) {  // without the file's path
      std::vector<std::string> out;
      for (std::string w : f.warnings) {
        for (size_t at; (at = w.find(f.path)) != std::string::npos;) w.replace(at, f.path.size(), "<keys>");
        out.push_back(w);
      }
      return out;
    };
    ASSERT_EQ(lines(spliced), lines(whole));
    spliced.warnings.clear();
    whole.warnings.clear();
  }
  EXPECT_GT(splices, 100) << "the splice was seldom tried";
}

// edgekeyd's first read of a keyset validates each record once and parses
// its hash once, from the file to the table (record_work(): this thread).
TEST(FileSource, AWholeLoadValidatesEachRecordOnce) {
  Fixture f;
  std::string text;
  for (unsigned i = 1; i <= 20; ++i) text += keyset_item("key_" + std::to_string(i), i);
  f.write(text);
  const RecordWork before = record_work();
  ASSERT_TRUE(f.source->start());
  const RecordWork after = record_work();
  ASSERT_EQ(f.applier->size(), 20u);
  EXPECT_EQ(after.validations - before.validations, 20u);
  EXPECT_EQ(after.hash_parses - before.hash_parses, 20u);
}

}  // namespace
}  // namespace edgekey::sync
