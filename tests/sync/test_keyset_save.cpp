// Atomic save of the keyset file and the lock concurrent editors take.
#include "sync/record/atomic_file.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

namespace edgekey::sync {
namespace {

using testing::minimal_record;
using testing::TempDir;

std::set<std::string> entries(const TempDir &dir) {
  std::set<std::string> names;
  for (const auto &e : std::filesystem::directory_iterator(dir.path()))
    names.insert(e.path().filename().string());
  return names;
}

std::vector<KeyRecord> n_records(unsigned n) {
  std::vector<KeyRecord> v;
  for (unsigned i = 0; i < n; ++i) {
    v.push_back(minimal_record("key_" + std::to_string(i)));
    v.back().hash = testing::hash_n(i);
  }
  return v;
}

TEST(KeysetSave, WritesANewFile) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  auto recs = n_records(3);
  save_keyset_file(path, recs);
  KeysetParse p = load_keyset_file(path);
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.records, recs);
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(entries(dir), std::set<std::string>{"keys.yaml"});
}

TEST(KeysetSave, ReplacesTheFileWholeAndKeepsItsMode) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  testing::write_file(path, "keys: []\n");
  ASSERT_EQ(chmod(path.c_str(), 0604), 0);
  struct stat before{};
  ASSERT_EQ(stat(path.c_str(), &before), 0);
  // A reader holding the old file keeps reading the old content (rename, not rewrite).
  int old_fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(old_fd, 0);

  auto recs = n_records(5);
  save_keyset_file(path, recs);

  struct stat after{};
  ASSERT_EQ(stat(path.c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode & 07777, 0604u);
  char buf[64] = {};
  EXPECT_EQ(read(old_fd, buf, sizeof buf - 1), 9);
  EXPECT_STREQ(buf, "keys: []\n");
  close(old_fd);
  EXPECT_EQ(load_keyset_file(path).records, recs);
  EXPECT_EQ(entries(dir), std::set<std::string>{"keys.yaml"});
}

TEST(KeysetSave, RefusesInvalidRecordsAndLeavesTheOldFile) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  save_keyset_file(path, n_records(1));
  std::string old = testing::read_file(path);
  auto recs = n_records(2);
  recs[1].type = KeyType::Publishable;  // no origin
  try {
    save_keyset_file(path, recs);
    FAIL() << "saved an invalid record";
  } catch (const KeysetError &e) {
    EXPECT_NE(std::string(e.what()).find("key key_1: field \"allowed_origins\""), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(testing::read_file(path), old);
  EXPECT_EQ(entries(dir), std::set<std::string>{"keys.yaml"});
}

TEST(KeysetSave, FailsCleanlyWhereItCannotWrite) {
  TempDir dir;
  std::string path = dir.file("missing-dir/keys.yaml");
  try {
    save_keyset_file(path, n_records(1));
    FAIL() << "wrote into a missing directory";
  } catch (const KeysetError &e) {
    EXPECT_NE(std::string(e.what()).find("missing-dir"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(entries(dir).empty());
}

TEST(AtomicFile, NewFileGetsTheGivenMode) {
  TempDir dir;
  std::string path = dir.file("snapshot");
  replace_file_atomically(path, "one\n", 0600);
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  replace_file_atomically(path, "two\n", 0644);  // existing: mode kept
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(testing::read_file(path), "two\n");
  EXPECT_EQ(entries(dir), std::set<std::string>{"snapshot"});
}

TEST(KeysetSave, FollowsASymlinkToItsTarget) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "real");
  std::string target = dir.file("real/keys.yaml");
  testing::write_file(target, "keys: []\n");
  std::filesystem::create_symlink(target, dir.path() / "keys.yaml");
  save_keyset_file(dir.file("keys.yaml"), n_records(2));
  EXPECT_TRUE(std::filesystem::is_symlink(dir.path() / "keys.yaml"));
  EXPECT_EQ(load_keyset_file(target).records, n_records(2));
}

TEST(KeysetLock, ExcludesASecondHolderUntilReleased) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  {
    KeysetLock held(path);
    EXPECT_EQ(held.lock_path(), path + ".lock");
    EXPECT_FALSE(KeysetLock::try_acquire(path).has_value());  // another open file description
    KeysetLock moved = std::move(held);
    EXPECT_FALSE(KeysetLock::try_acquire(path).has_value());
  }
  auto again = KeysetLock::try_acquire(path);
  EXPECT_TRUE(again.has_value());
  EXPECT_TRUE(std::filesystem::exists(path + ".lock"));
}

// The child finds the lock held, then blocks on it, and must see the
// parent's save once it gets the lock. Pipes order the steps; no sleeps.
// The parent locks after fork(): a child that inherited the descriptor
// would share the parent's lock (flock belongs to the open file description).
TEST(KeysetLock, SerialisesTwoProcesses) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  save_keyset_file(path, n_records(1));
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);

  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    int code = 0;
    try {
      char c;
      if (read(to_child[0], &c, 1) != 1) code = 11;  // the parent holds the lock now
      if (KeysetLock::try_acquire(path)) code = 10;
      if (write(to_parent[1], &c, 1) != 1) code = 11;
      KeysetLock mine(path);  // blocks until the parent releases
      KeysetParse p = load_keyset_file(path);
      if (!p.ok() || p.records.size() != 2) code = code ? code : 12;
    } catch (...) {
      code = 13;
    }
    _exit(code);
  }
  close(to_child[0]);
  close(to_parent[1]);
  {
    KeysetLock parent_lock(path);
    char c = 'x';
    ASSERT_EQ(write(to_child[1], &c, 1), 1);
    ASSERT_EQ(read(to_parent[0], &c, 1), 1);  // the child has seen the lock held
    save_keyset_file(path, n_records(2));
  }  // release: the child proceeds
  close(to_child[1]);
  close(to_parent[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: not excluded, 11: pipe, 12: read before save, 13: threw";
}

// Two processes each add records by read-modify-write under the lock; none
// of the additions may be lost.
TEST(KeysetLock, NoLostUpdatesUnderReadModifyWrite) {
  TempDir dir;
  std::string path = dir.file("keys.yaml");
  save_keyset_file(path, {});
  constexpr int kPerProcess = 20;
  auto worker = [&](int who) {
    for (int i = 0; i < kPerProcess; ++i) {
      KeysetLock lock(path);
      KeysetParse p = load_keyset_file(path);
      if (!p.ok()) return 1;
      KeyRecord r = minimal_record("key_" + std::to_string(who) + "_" + std::to_string(i));
      r.hash = testing::hash_n(unsigned(who * 1000 + i));
      std::vector<KeyRecord> records = std::move(p.records);
      records.push_back(r);
      save_keyset_file(path, records);
    }
    return 0;
  };
  pid_t pids[2];
  for (int w = 0; w < 2; ++w) {
    pids[w] = fork();
    ASSERT_GE(pids[w], 0);
    if (pids[w] == 0) {
      int code = 2;
      try {
        code = worker(w + 1);
      } catch (...) {
      }
      _exit(code);
    }
  }
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  KeysetParse p = load_keyset_file(path);
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_TRUE(p.rejected.empty());
  EXPECT_EQ(p.records.size(), size_t(2 * kPerProcess));
  EXPECT_EQ(entries(dir), (std::set<std::string>{"keys.yaml", "keys.yaml.lock"}));
}

}  // namespace
}  // namespace edgekey::sync
