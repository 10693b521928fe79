#include "shm/src/segment.hpp"

#include "shm/writer/table_options.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

// "3 MiB", or "960 KiB" below one MiB; a need rounded up, room down.
std::string size_text(uint64_t bytes, bool up) {
  const unsigned shift = bytes >= (1 << 20) ? 20 : 10;
  const uint64_t n = up ? (bytes + (uint64_t(1) << shift) - 1) >> shift : bytes >> shift;
  return std::to_string(n) + (shift == 20 ? " MiB" : " KiB");
}

long read_long(const std::string &path) {
  std::ifstream in(path);
  long v = -1;
  return in >> v ? v : -1;
}

}  // namespace

std::string SegmentDir::path(const std::string &name) const { return listing() + "/" + name; }

std::string SegmentDir::address(const std::string &name) const { return table_address(dir, name); }

int64_t SegmentDir::free_bytes() const {
  if (kind == DirKind::Hugetlbfs) {
    // An overcommitting pool grows on demand: its free pages are no bound.
    const long free = free_huge_pages(page_size);
    if (free < 0 || read_long("/sys/kernel/mm/hugepages/hugepages-" + std::to_string(page_size >> 10) +
                              "kB/nr_overcommit_hugepages") > 0)
      return -1;
    return int64_t(free) * int64_t(page_size);
  }
  struct statvfs fs;
  if (statvfs(listing().c_str(), &fs) != 0) return -1;
  return int64_t(fs.f_bavail) * int64_t(fs.f_frsize);
}

std::string SegmentDir::room_problem(uint64_t need) const {
  if (kind == DirKind::Hugetlbfs) {
    const long free = free_huge_pages(page_size);
    return "needs " + std::to_string((need + page_size - 1) / page_size) + " huge pages of " +
           mib(page_size) + ", the host's pool has " +
           (free < 0 ? std::string("an unknown number") : std::to_string(free)) +
           " free: raise vm.nr_hugepages (or the mount's size=)";
  }
  const int64_t free = free_bytes();
  struct statvfs fs;
  const std::string size =
      statvfs(listing().c_str(), &fs) == 0 ? " of " + size_text(uint64_t(fs.f_blocks) * fs.f_frsize, false) : "";
  return "needs " + size_text(need, true) + ", and " + listing() + " (tmpfs) has " +
         (free < 0 ? std::string("an unknown amount") : size_text(uint64_t(free), false)) + size +
         " free: give it room (docker run --shm-size=…; Kubernetes: a memory-backed emptyDir with a "
         "sizeLimit mounted there; a host: mount -o remount,size=… " + listing() +
         "), or lower table.capacity";
}

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
      const int err = errno;  // before room_problem() reads files
      problem = "cannot size it to " + mib(size) + " (" + std::strerror(err) + "): it " + d.room_problem(size);
    } else if (d.kind != DirKind::Hugetlbfs) {
      // ftruncate leaves the file sparse: without this, a full filesystem
      // is a SIGBUS at the first store to a page it has no room for.
      if (const int err = posix_fallocate(fd, 0, off_t(size)); err != 0)
        problem = "cannot reserve " + mib(size) + " (" + std::strerror(err) + "): it " + d.room_problem(size);
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
    fail(path, std::string("cannot create (") + e.what() + "): it " + d.room_problem(size));
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
