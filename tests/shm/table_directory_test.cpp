// table.directory: the segments as files in a tmpfs or hugetlbfs directory,
// opened by readers through the table's path. The tmpfs checks run
// anywhere (a fresh directory under /dev/shm); the hugetlbfs ones need root
// to mount a private hugetlbfs and reserve a few 2 MiB pages, which the
// fixture gives back (CI runs as root), and skip elsewhere saying why.
#include "shm/src/generation.hpp"
#include "shm/src/huge_pages.hpp"
#include "shm/src/segment.hpp"
#include "table_fixture.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fstream>

using namespace edgekey;
using namespace edgekey::test;

namespace {

bool exists(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string error_of(const std::string &dir) {
  try {
    shm::segment_dir(dir);
  } catch (const shm::TableError &e) {
    return e.what();
  }
  return "";
}

ek_result check(ek_validator *v, const std::string &token) {
  ek_request q{token.c_str(), "agents:read", nullptr, nullptr, nullptr};
  ek_result r{};
  EXPECT_EQ(ek_validate(v, &q, &r), 0);
  return r;
}

// A fresh directory under /dev/shm (tmpfs), removed with its files.
struct TmpfsDir {
  std::string path;
  TmpfsDir() {
    char tmpl[] = "/dev/shm/ektest-dir.XXXXXX";
    if (mkdtemp(tmpl)) path = tmpl;
  }
  ~TmpfsDir() {
    if (!path.empty()) rmdir(path.c_str());
  }
};

long read_long(const char *path) {
  std::ifstream in(path);
  long v = -1;
  return in >> v ? v : -1;
}

bool write_long(const char *path, long v) {
  std::ofstream out(path);
  return bool(out << v << '\n') && bool(out.flush());
}

// A private hugetlbfs mount with `pages` more 2 MiB pages in the host's
// pool, both given back at the end. `why` says why there is none.
struct Hugetlbfs {
  static constexpr const char *kPool = "/proc/sys/vm/nr_hugepages";
  std::string path, why;
  long before = -1;
  explicit Hugetlbfs(long pages) {
    if (geteuid() != 0) {
      why = "needs root to mount hugetlbfs and reserve pages (CI runs as root)";
      return;
    }
    before = read_long(kPool);
    if (before < 0 || !write_long(kPool, before + pages) || read_long(kPool) < before + pages) {
      why = "the kernel gave fewer than " + std::to_string(pages) + " 2 MiB pages to " + kPool;
      return;
    }
    char tmpl[] = "/tmp/ektest-hugetlbfs.XXXXXX";
    if (!mkdtemp(tmpl)) {
      why = "mkdtemp failed";
      return;
    }
    if (mount("none", tmpl, "hugetlbfs", 0, "pagesize=2M,mode=0755") != 0) {
      why = std::string("mount -t hugetlbfs: ") + std::strerror(errno);
      rmdir(tmpl);
      return;
    }
    path = tmpl;
  }
  ~Hugetlbfs() {
    if (!path.empty()) {
      umount(path.c_str());
      rmdir(path.c_str());
    }
    if (before >= 0) write_long(kPool, before);
  }
};

}  // namespace

TEST(TableDirectory, RefusesWhatIsNotAMemoryDirectory) {
  EXPECT_NE(error_of("relative/dir").find("is not an absolute path"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent-ek-dir").find("mount -t hugetlbfs"), std::string::npos)
      << error_of("/nonexistent-ek-dir");
  EXPECT_NE(error_of("/proc/self/status").find("is not a directory"), std::string::npos);
  EXPECT_NE(error_of("/proc").find("neither hugetlbfs nor tmpfs"), std::string::npos) << error_of("/proc");
  EXPECT_EQ(shm::segment_dir("").kind, shm::DirKind::PosixShm);
  const shm::SegmentDir d = shm::segment_dir("/dev/shm/");
  EXPECT_EQ(d.kind, shm::DirKind::Tmpfs);
  EXPECT_EQ(d.address("t"), "/dev/shm/t");
  EXPECT_EQ(shm::SegmentDir{}.address("t"), "t");

  shm::TableOptions o = test_options(unique_table_name("dir-bad"));
  o.directory = "/proc";
  EXPECT_THROW(shm::TableWriter w(o), shm::TableError);
}

TEST(TableDirectory, ReaderOpensAPathButNotARelativeOne) {
  ek_validator *v = nullptr;
  EXPECT_EQ(ek_open("dir/table", &v), EK_ERR_INVALID_ARG);
  EXPECT_EQ(ek_open("/dev/shm/", &v), EK_ERR_INVALID_ARG);
  EXPECT_EQ(ek_open("/dev/shm/ektest-no-such-table", &v), EK_ERR_NO_TABLE);
  EXPECT_EQ(v, nullptr);
}

// The whole life of a table in a tmpfs directory: readers find it by path
// only, follow a grown generation, and keep it across a writer restart;
// destroy() empties the directory.
TEST(TableDirectory, TmpfsDirectoryServesReadersByPath) {
  TmpfsDir dir;
  ASSERT_FALSE(dir.path.empty());
  shm::TableOptions o = test_options(unique_table_name("dir-tmpfs"));
  o.directory = dir.path;
  o.capacity = 16;
  Minted a = mint("key_a"), b = mint("key_b");
  auto w = std::make_unique<shm::TableWriter>(o);
  EXPECT_EQ(w->address(), dir.path + "/" + o.name);
  w->load({a.rec, b.rec});
  w->revoke(b.rec.hash);
  EXPECT_TRUE(exists(dir.path + "/" + o.name + ".g1"));
  EXPECT_FALSE(exists("/dev/shm/" + o.name)) << "the table leaked into /dev/shm";

  ek_validator *v = nullptr;
  EXPECT_EQ(ek_open(o.name.c_str(), &v), EK_ERR_NO_TABLE);  // not in /dev/shm
  ASSERT_EQ(ek_open(w->address().c_str(), &v), 0);
  EXPECT_EQ(check(v, a.token).status, 200);
  EXPECT_STREQ(ek_code_name(check(v, b.token).code), "revoked_key");

  // Growth publishes generation 2 in the directory and unlinks generation 1.
  std::vector<Minted> more;
  for (int i = 0; i < 40; ++i) more.push_back(mint("more_" + std::to_string(i)));
  for (const Minted &m : more) ASSERT_EQ(w->put(m.rec), shm::WriteError::None);
  const uint64_t grown = w->stats().generation;
  EXPECT_GT(grown, 1u);
  EXPECT_FALSE(exists(dir.path + "/" + o.name + ".g1"));
  EXPECT_EQ(check(v, more.back().token).status, 200);
  EXPECT_EQ(check(v, a.token).status, 200);

  // A restarted writer attaches to what the directory holds.
  w.reset();
  w = std::make_unique<shm::TableWriter>(o);
  EXPECT_TRUE(w->attached());
  EXPECT_EQ(w->stats().generation, grown);
  EXPECT_EQ(check(v, more.front().token).status, 200);
  shm::TableOptions moved = o;
  moved.directory = "/dev/shm";
  EXPECT_THROW(w->set_options(moved), shm::TableError);
  ek_close(v);

  w.reset();
  shm::TableWriter::destroy(o.name, dir.path);
  EXPECT_TRUE(shm::segment_names(shm::segment_dir(dir.path), o.name).empty());
}

// hugetlbfs: every segment in whole huge pages from the host's pool, mapped
// huge by the writer; a pool too small for a rebuild is a TableError naming
// vm.nr_hugepages, and the table keeps serving the generation it had.
TEST(TableDirectory, HugetlbfsTableIsInHugePagesAndSaysWhenThePoolIsShort) {
  Hugetlbfs fs(4);
  if (fs.path.empty()) GTEST_SKIP() << "no hugetlbfs: " << fs.why;
  shm::TableOptions o = test_options(unique_table_name("dir-hugetlbfs"));
  o.directory = fs.path;
  o.capacity = 1000;
  {
    shm::TableWriter w(o);
    EXPECT_EQ(w.segment_dir().kind, shm::DirKind::Hugetlbfs);
    EXPECT_EQ(w.segment_dir().page_size, shm::kHugePageSize);
    Minted a = mint("key_a");
    w.load({a.rec});
    const auto st = w.stats();
    EXPECT_EQ(st.segment_bytes % shm::kHugePageSize, 0u);
    EXPECT_GE(st.huge_page_bytes, shm::kHugePageSize) << w.huge_page_report();
    EXPECT_NE(w.huge_page_report().find("hugetlbfs " + fs.path), std::string::npos) << w.huge_page_report();
    std::printf("  %s\n", w.huge_page_report().c_str());

    ek_validator *v = nullptr;
    ASSERT_EQ(ek_open(w.address().c_str(), &v), 0);
    EXPECT_EQ(check(v, a.token).status, 200);

    // Slots for 8 pages more than the pool has free cannot be had (unless
    // the host lets the pool overcommit: then there is no shortage to see).
    if (read_long("/proc/sys/vm/nr_overcommit_hugepages") != 0) {
      ek_close(v);
      GTEST_SKIP() << "vm.nr_overcommit_hugepages is set: the pool grows on demand";
    }
    const long free = shm::free_huge_pages(shm::kHugePageSize);
    ASSERT_GE(free, 0);
    try {
      w.rebuild(uint64_t(free + 8) * shm::kHugePageSize / shm::kSlotSize);
      ADD_FAILURE() << "a rebuild larger than the pool succeeded";
    } catch (const shm::TableError &e) {
      EXPECT_NE(std::string(e.what()).find("vm.nr_hugepages"), std::string::npos) << e.what();
    }
    EXPECT_EQ(w.stats().generation, st.generation);
    EXPECT_EQ(check(v, a.token).status, 200);
    EXPECT_EQ(shm::segment_names(w.segment_dir(), o.name + ".g").size(), 1u);
    ek_close(v);
  }
  shm::TableWriter::destroy(o.name, fs.path);
  EXPECT_TRUE(shm::segment_names(shm::segment_dir(fs.path), o.name).empty());
}
