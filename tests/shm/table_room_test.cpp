// A table whose filesystem has no room: small tmpfs mounts as
// table.directory (root only; skipped with the reason elsewhere). Creating
// a segment reserves its memory, so a lack of room is an error at creation,
// never a SIGBUS at a later store; a table that cannot grow keeps serving
// every key it holds, and grows once room appears.
#include "shm/src/segment.hpp"
#include "shm/writer/usage_reader.hpp"
#include "table_fixture.hpp"
#include "tmpfs_mount.hpp"

#include <sys/stat.h>

#include <chrono>
#include <thread>
#include <vector>

using namespace edgekey;
using namespace edgekey::test;

namespace {

constexpr uint64_t kMiB = 1 << 20;

shm::TableOptions in_dir(const std::string &dir, uint64_t capacity) {
  shm::TableOptions o = test_options(unique_table_name("room"));
  o.directory = dir;
  o.capacity = capacity;
  return o;
}

bool exists(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

#define NEED_TMPFS(m)                \
  if (!(m).ok()) GTEST_SKIP() << (m).why

}  // namespace

TEST(TableRoom, ASegmentLargerThanItsFilesystemFailsAtCreateAndLeavesNothing) {
  TmpfsMount m(4 * kMiB);
  NEED_TMPFS(m);
  const shm::SegmentDir d = shm::segment_dir(m.path);
  try {
    shm::RwSegment::create(d, "big", 8 * kMiB, {});
    FAIL() << "an 8 MiB segment was created in a 4 MiB tmpfs (sparse: a later store would SIGBUS)";
  } catch (const shm::TableError &e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("cannot reserve 8 MiB"), std::string::npos) << msg;
    EXPECT_NE(msg.find(m.path), std::string::npos) << msg;
    EXPECT_NE(msg.find("--shm-size"), std::string::npos) << msg;
    EXPECT_NE(msg.find("remount,size="), std::string::npos) << msg;
  }
  EXPECT_FALSE(exists(m.file("big"))) << "the failed segment was left behind";
  // The room is still there for one that fits.
  shm::RwSegment ok = shm::RwSegment::create(d, "small", 2 * kMiB, {});
  EXPECT_EQ(ok.region.get_size(), 2 * kMiB);
}

// The usage directory a writer makes on /dev/shm, gone with the test (the
// table's own segments go with its tmpfs).
struct UsageDirRemoved {
  std::string table;
  ~UsageDirRemoved() { shm::remove_usage_dir(table); }
};

TEST(TableRoom, ATableThatCannotFitSaysSoBeforeAnythingIsCreated) {
  TmpfsMount m(4 * kMiB);
  NEED_TMPFS(m);
  const shm::TableOptions big = in_dir(m.path, 100000);  // 12.5 MiB of slots
  const auto room = shm::TableWriter::first_generation_room(big);
  EXPECT_FALSE(room.fits) << room.line;
  for (const char *part : {"does not fit", "needs 13 MiB", "4 MiB", "free", "--shm-size", "sizeLimit",
                           "table.capacity"})
    EXPECT_NE(room.line.find(part), std::string::npos) << part << " missing from: " << room.line;
  EXPECT_TRUE(shm::TableWriter::first_generation_room(in_dir(m.path, 1000)).fits);

  // The writer refuses it with the same facts, and leaves no data segment.
  const UsageDirRemoved cleanup{big.name};
  shm::TableWriter w(big);
  try {
    w.load({});
    FAIL() << "a 12.5 MiB generation was built in a 4 MiB tmpfs";
  } catch (const shm::TableError &e) {
    EXPECT_NE(std::string(e.what()).find("free"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(exists(m.file(big.name + ".g1")));
  EXPECT_EQ(w.current(), nullptr);
}

// Readers validate the keys a table holds while its writer tries, and
// fails, to grow it: none of them ever gets a 401; the keys that did not fit
// are NoRoom and absent; once the filesystem is larger, they go in.
TEST(TableRoom, GrowthWithoutRoomKeepsServingAndSucceedsOnceThereIsRoom) {
  // 1024 slots (128 KiB) fit many times over; the growth to 2 x 80 keys at
  // load 0.5 needs a second segment beside the first: 1 MiB holds both,
  // not a third.
  TmpfsMount m(1 * kMiB);
  NEED_TMPFS(m);
  shm::TableOptions o = in_dir(m.path, 1024);
  const UsageDirRemoved cleanup{o.name};
  shm::TableWriter w(o);
  std::vector<Minted> keys;
  for (int i = 0; i < 700; ++i) keys.push_back(mint("key_" + std::to_string(i)));
  std::vector<shm::TableRecord> recs;
  for (const auto &k : keys) recs.push_back(k.rec);
  w.load(recs);
  const uint64_t filler = m.fill();  // what is left goes to another user of the filesystem
  ASSERT_GT(filler, 0u);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> answered{0}, wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&, t] {
      ek_validator *v = nullptr;
      if (ek_open(w.address().c_str(), &v) != 0) {
        wrong += 1;
        return;
      }
      for (size_t i = size_t(t); !stop.load(std::memory_order_relaxed); i = (i + 7) % keys.size()) {
        ek_request q{keys[i].token.c_str(), nullptr, nullptr, nullptr, nullptr};
        ek_result r{};
        ek_validate(v, &q, &r);
        if (r.status != 200) wrong += 1;
        answered += 1;
      }
      ek_close(v);
    });

  // More keys than 1024 slots hold at max_load: the table must grow, and cannot.
  std::vector<Minted> more;
  size_t stored = 0, no_room = 0;
  for (int i = 0; i < 300; ++i) {
    more.push_back(mint("more_" + std::to_string(i)));
    const shm::WriteError e = w.put(more.back().rec);
    if (e == shm::WriteError::None) ++stored;
    else if (e == shm::WriteError::NoRoom) ++no_room;
  }
  EXPECT_GT(no_room, 0u) << "the table grew in a full filesystem";
  EXPECT_EQ(stored + no_room, more.size());
  EXPECT_NE(w.room_problem().find(m.path), std::string::npos) << w.room_problem();
  EXPECT_FALSE(w.room_to_grow());
  EXPECT_EQ(w.stats().generation, 1u) << "the generation serving was replaced";
  EXPECT_EQ(w.stats().live, keys.size() + stored);
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(w.address().c_str(), &v), 0);
  ek_request q{more.back().token.c_str(), nullptr, nullptr, nullptr, nullptr};
  ek_result r{};
  ek_validate(v, &q, &r);
  EXPECT_EQ(r.code, EK_CODE_UNKNOWN_KEY) << "a key that did not fit must not be half there";

  // Room again: a larger filesystem, and the next put grows the table.
  ASSERT_TRUE(m.resize(64 * kMiB));
  EXPECT_TRUE(w.room_to_grow());
  EXPECT_EQ(w.put(more.back().rec), shm::WriteError::None) << w.room_problem();
  EXPECT_TRUE(w.room_problem().empty());
  EXPECT_GT(w.stats().generation, 1u);
  ek_validate(v, &q, &r);
  EXPECT_EQ(r.status, 200);
  ek_close(v);

  // Readers ran across the failed growths and the successful one.
  const uint64_t before = answered.load();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (answered.load() < before + 1000 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  stop = true;
  for (auto &t : readers) t.join();
  EXPECT_EQ(wrong.load(), 0u) << "a key present throughout was not valid to a reader";
  EXPECT_GE(answered.load(), before + 1000) << "the readers stopped answering";
  shm::TableWriter::destroy(o.name, o.directory);
}
