// ro_mapping.hpp -- a table segment (POSIX shm, or a file on hugetlbfs or
// tmpfs) mapped PROT_READ.
//
// The reader side maps with shm_open/fstat/mmap rather than Boost.Interprocess
// because it must not throw inside ek_validate and needs fstat's size to
// bounds-check the segment against its own header. Mappings of 2 MiB or more
// are madvise(MADV_HUGEPAGE)d, unconditionally (huge_pages.hpp).
#pragma once

#include <cstddef>
#include <string>

namespace edgekey::shm {

class RoMapping {
 public:
  RoMapping() = default;
  RoMapping(RoMapping &&o) noexcept;
  RoMapping &operator=(RoMapping &&o) noexcept;
  RoMapping(const RoMapping &) = delete;
  RoMapping &operator=(const RoMapping &) = delete;
  ~RoMapping();

  // A POSIX shm segment by name, or a file (hugetlbfs, tmpfs) by its
  // absolute path (`name` starts with '/'). 0, or a negative ek_err
  // (EK_ERR_NO_TABLE for ENOENT, EK_ERR_ACCESS, ...).
  int open(const std::string &name);
  const void *data() const { return base_; }
  size_t size() const { return size_; }

 private:
  void reset();
  void *base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace edgekey::shm
