#include "shm/src/segment.hpp"

#include "shm/src/table_options.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace bip = boost::interprocess;

namespace edgekey::shm {

namespace {

constexpr long kHugetlbfsMagic = 0x958458f6;  // linux/magic.h
constexpr long kTmpfsMagic = 0x01021994;

[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw TableError("segment " + path + ": " + what);
}

std::string mib(uint64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB"; }

long read_long(const std::string &path) {
  std::ifstream in(path);
  long v = -1;
  return in >> v ? v : -1;
}

// What to check when creating or mapping `size` bytes in `d` failed.
std::string room_hint(const SegmentDir &d, uint64_t size) {
  if (d.kind != DirKind::Hugetlbfs)
    return "check " + d.listing() + " is mounted with room for " + mib(size);
  const long free = free_huge_pages(d.page_size);
  return "the segment needs " + std::to_string(size / d.page_size) + " huge pages of " +
         mib(d.page_size) + ", the host's pool has " +
         (free < 0 ? std::string("an unknown number") : std::to_string(free)) +
         " free: raise vm.nr_hugepages (or the mount's size=)";
}

}  // namespace

std::string SegmentDir::path(const std::string &name) const { return listing() + "/" + name; }

std::string SegmentDir::address(const std::string &name) const { return table_address(dir, name); }

std::string SegmentDir::describe() const {
  if (kind == DirKind::PosixShm) return "/dev/shm";
  if (kind == DirKind::Tmpfs) return "tmpfs " + dir;
  const long free = free_huge_pages(page_size);
  return "hugetlbfs " + dir + " (" + mib(page_size) + " pages, " +
         (free < 0 ? std::string("? ") : std::to_string(free) + " ") + "free)";
}

SegmentDir segment_dir(const std::string &dir) {
  SegmentDir d;
  if (dir.empty()) return d;
  auto bad = [&](const std::string &why) {
    throw TableError("table.directory '" + dir + "' " + why);
  };
  if (dir[0] != '/') bad("is not an absolute path: name a hugetlbfs or tmpfs mount's directory");
  d.dir = dir;
  while (d.dir.size() > 1 && d.dir.back() == '/') d.dir.pop_back();
  if (d.dir.size() > 200) bad("is longer than 200 bytes");
  struct stat st;
  if (stat(d.dir.c_str(), &st) != 0)
    bad(std::string("cannot be used (") + std::strerror(errno) +
        "): mount hugetlbfs there (mount -t hugetlbfs none " + d.dir + ") or create it on a tmpfs");
  if (!S_ISDIR(st.st_mode)) bad("is not a directory");
  struct statfs fs;
  if (statfs(d.dir.c_str(), &fs) != 0) bad(std::string("cannot be inspected: ") + std::strerror(errno));
  if (long(fs.f_type) == kHugetlbfsMagic) {
    d.kind = DirKind::Hugetlbfs;
    d.page_size = uint64_t(fs.f_bsize);
  } else if (long(fs.f_type) == kTmpfsMagic) {
    d.kind = DirKind::Tmpfs;
  } else {
    bad("is on neither hugetlbfs nor tmpfs: the table must stay in memory (mount -t hugetlbfs "
        "none " + d.dir + ", or leave table.directory unset for /dev/shm)");
  }
  return d;
}

long free_huge_pages(uint64_t page_size) {
  const std::string dir = "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size >> 10) + "kB/";
  const long free = read_long(dir + "free_hugepages"), resv = read_long(dir + "resv_hugepages");
  if (free < 0) return -1;
  return resv > 0 && resv <= free ? free - resv : free;
}

RwSegment RwSegment::create(const SegmentDir &d, const std::string &name, uint64_t size,
                            const SegmentAccess &access) {
  RwSegment s;
  const std::string path = d.path(name);
  if (d.kind == DirKind::Hugetlbfs) size = (size + d.page_size - 1) / d.page_size * d.page_size;
  bool created = false;  // only then is a failure's leftover ours to remove
  try {
    int fd = -1;
    if (d.kind == DirKind::PosixShm) {
      s.shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                        bip::permissions(access.mode));
      created = true;
      fd = s.fd();
    } else {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, access.mode);
      if (fd < 0) fail(path, std::string("cannot create: ") + std::strerror(errno));
      created = s.in_dir = true;
    }
    std::string problem;
    if ((s.in_dir && fchmod(fd, access.mode) != 0) ||
        (access.gid >= 0 && fchown(fd, uid_t(-1), gid_t(access.gid)) != 0))
      problem = std::string("cannot give it to the readers' group: ") + std::strerror(errno) +
                " (run edgekeyd as root or as a member of table.readers_group)";
    else if (ftruncate(fd, off_t(size)) != 0) {
      const int err = errno;  // before room_hint() reads files
      problem = "cannot size it to " + mib(size) + " (" + std::strerror(err) + "): " + room_hint(d, size);
    }
    if (s.in_dir) ::close(fd);  // the file_mapping below opens its own
    if (!problem.empty()) {
      remove_segment(d, name);
      fail(path, problem);
    }
    if (s.in_dir) s.file = bip::file_mapping(path.c_str(), bip::read_write);
    s.region = s.in_dir ? bip::mapped_region(s.file, bip::read_write)
                        : bip::mapped_region(s.shm, bip::read_write);
  } catch (const bip::interprocess_exception &e) {
    if (created) remove_segment(d, name);
    fail(path, std::string("cannot create (") + e.what() + "): " + room_hint(d, size));
  }
  return s;
}

RwSegment RwSegment::open(const SegmentDir &d, const std::string &name) {
  RwSegment s;
  const std::string path = d.path(name);
  try {
    if (d.kind == DirKind::PosixShm) {
      s.shm = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_write);
      s.region = bip::mapped_region(s.shm, bip::read_write);
    } else {
      s.in_dir = true;
      s.file = bip::file_mapping(path.c_str(), bip::read_write);
      s.region = bip::mapped_region(s.file, bip::read_write);
    }
  } catch (const bip::interprocess_exception &e) {
    fail(path, std::string("cannot open read-write (") + e.what() + ")");
  }
  return s;
}

int RwSegment::fd() const {
  return in_dir ? file.get_mapping_handle().handle : shm.get_mapping_handle().handle;
}

void remove_segment(const SegmentDir &d, const std::string &name) {
  if (d.kind == DirKind::PosixShm) bip::shared_memory_object::remove(name.c_str());
  else ::unlink(d.path(name).c_str());
}

std::vector<std::string> segment_names(const SegmentDir &d, const std::string &prefix) {
  std::vector<std::string> out;
  if (DIR *dir = opendir(d.listing().c_str())) {
    while (dirent *e = readdir(dir)) {
      std::string n = e->d_name;
      if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(n));
    }
    closedir(dir);
  }
  return out;
}

}  // namespace edgekey::shm
