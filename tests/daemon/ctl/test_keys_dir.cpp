// FileKeyRepository on a keyset directory, in process: lookups and list see
// every part, a put may not repeat the hash of a key of any part, an edit
// writes only the part holding its id, and errors name the part file.
#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/key_repository.hpp"
#include "harness.hpp"
#include "sync/record/keyset_file.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

namespace edgekey::ctl::test {
namespace {

sync::KeyRecord record(const std::string &id, char h) {
  sync::KeyRecord r;
  r.id = id;
  r.hash = "sha256:" + std::string(64, h);
  r.workspace = "ws_dir";
  r.type = sync::KeyType::Secret;
  r.env = sync::KeyEnv::Live;
  r.role = "developer";
  r.status = sync::KeyStatus::Active;
  r.created_at = 1795341600;
  return r;
}

ino_t inode(const std::string &path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

TEST(KeysetDirStore, PutsAreCheckedAgainstEveryPartAndWriteOnlyTheirPart) {
  Scratch s;
  const std::string dir = s.dir() + "/keys.d", a = dir + "/a.yaml", b = dir + "/b.yaml";
  ASSERT_EQ(::mkdir(dir.c_str(), 0750), 0);
  write_file(a, sync::emit_keyset_yaml({record("key_dira000001", 'a')}));
  write_file(b, sync::emit_keyset_yaml({record("key_dirb000001", 'b')}));
  FileKeyRepository repo(dir);
  EXPECT_EQ(repo.where(), "keyset directory " + dir);
  EXPECT_EQ(repo.list().size(), 2u);
  ASSERT_TRUE(repo.get("key_dirb000001"));

  // A new key with b's hash, written while a.yaml is the part for new keys: refused.
  const std::string a_text = read_file(a), b_text = read_file(b);
  try {
    repo.update_by_id([](const KeyRepository::Lookup &) { return std::vector<sync::KeyRecord>{record("key_new0000001", 'b')}; });
    ADD_FAILURE() << "a hash of another part was written";
  } catch (const CtlError &e) {
    EXPECT_EQ(e.code, kExitUsage);
    EXPECT_NE(std::string(e.what()).find("key_dirb000001"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(a), a_text);
  EXPECT_EQ(read_file(b), b_text);

  // A change of b's key, found through the lookup: only b.yaml is rewritten.
  const ino_t a_ino = inode(a), b_ino = inode(b);
  repo.update_by_id([](const KeyRepository::Lookup &current) {
    std::optional<sync::KeyRecord> r = current.find("key_dirb000001");
    EXPECT_TRUE(r);
    if (!r) return std::vector<sync::KeyRecord>{};
    r->name = "renamed";
    return std::vector<sync::KeyRecord>{*r};
  });
  EXPECT_EQ(inode(a), a_ino);
  EXPECT_EQ(read_file(a), a_text);
  EXPECT_NE(inode(b), b_ino);
  ASSERT_TRUE(repo.get("key_dirb000001"));
  EXPECT_EQ(repo.get("key_dirb000001")->name, "renamed");

  // A part that is not a keyset: named in the error, nothing written.
  write_file(dir + "/c.yaml", "keys: [\n");
  try {
    repo.list();
    ADD_FAILURE() << "a broken part was read";
  } catch (const CtlError &e) {
    EXPECT_EQ(e.code, kExitKeysetIo);
    EXPECT_NE(std::string(e.what()).find(dir + "/c.yaml"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgekey::ctl::test
