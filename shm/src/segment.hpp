// segment.hpp -- where the writer's segments live, and creating, opening
// and removing them.
//
// By default a table named N is POSIX shared memory: /dev/shm/N and
// /dev/shm/N.g<G>, opened with shm_open, and readers open it by its name.
// With table.directory D, the same names are files in D, which must be on
// hugetlbfs (every page of the segments a huge page, taken from the pool
// the host reserves with vm.nr_hugepages) or tmpfs; readers then open the
// table by its path, "D/N" (ek_open takes either form).
//
// Every segment's memory is reserved when it is created: hugetlbfs reserves
// a mapping's pages when it is mmapped, and elsewhere create() allocates the
// whole file (posix_fallocate). A filesystem without room for a segment
// therefore fails its create with a TableError, never a later store with
// SIGBUS. hugetlbfs accepts only file sizes in whole pages of its page size.
#pragma once

#include <boost/interprocess/file_mapping.hpp>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace edgekey::shm {

enum class DirKind : uint8_t { PosixShm, Tmpfs, Hugetlbfs };

struct SegmentDir {
  std::string dir;  // "" for POSIX shm; else absolute, no trailing '/'
  DirKind kind = DirKind::PosixShm;
  uint64_t page_size = 4096;  // hugetlbfs: its huge page size, which sizes every segment

  // "/dev/shm/<name>" or "<dir>/<name>": the file, for messages and listing.
  std::string path(const std::string &name) const;
  // What a reader passes to ek_open: the name for POSIX shm, else the path.
  std::string address(const std::string &name) const;
  // The directory holding the segments ("/dev/shm" for POSIX shm).
  std::string listing() const { return dir.empty() ? "/dev/shm" : dir; }
  // "hugetlbfs /dev/hugepages (2 MiB pages, 7 free)", "tmpfs /run/ek", "/dev/shm"
  std::string describe() const;
  // Bytes a new segment may still take here (the filesystem's free space,
  // or hugetlbfs's free pages), -1 when unknown.
  int64_t free_bytes() const;
  // One line for an operator whose segment of `need` bytes does not fit:
  // the filesystem, its free space, the need, and how to give it room.
  std::string room_problem(uint64_t need) const;
};

// The SegmentDir for table.directory `dir` ("" = POSIX shm). Throws
// TableError naming the directory when it is not an absolute path to an
// existing directory on hugetlbfs or tmpfs.
SegmentDir segment_dir(const std::string &dir);

// Free pages of the host's pool of `page_size` huge pages
// (/sys/kernel/mm/hugepages), -1 when unknown.
long free_huge_pages(uint64_t page_size);

// Ownership and mode applied to every segment the writer creates.
struct SegmentAccess {
  unsigned mode = 0640;
  long gid = -1;  // -1 = leave the creator's group
};

// A segment mapped read-write. Throws TableError naming the segment and the
// system error (and, on hugetlbfs, the pool's free pages).
struct RwSegment {
  boost::interprocess::shared_memory_object shm;  // POSIX shm, or
  boost::interprocess::file_mapping file;         // a file in SegmentDir::dir
  boost::interprocess::mapped_region region;
  bool in_dir = false;  // `file`, not `shm`
  // `size` is rounded up to whole pages on hugetlbfs.
  static RwSegment create(const SegmentDir &d, const std::string &name, uint64_t size,
                          const SegmentAccess &access);
  static RwSegment open(const SegmentDir &d, const std::string &name);
  int fd() const;
};

// Removes a segment's name (its mappings stay valid); quiet when absent.
void remove_segment(const SegmentDir &d, const std::string &name);
// Names in d's directory that start with `prefix`.
std::vector<std::string> segment_names(const SegmentDir &d, const std::string &prefix);

}  // namespace edgekey::shm
