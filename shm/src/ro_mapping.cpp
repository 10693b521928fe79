#include "shm/src/ro_mapping.hpp"

#include "shm/src/huge_pages.hpp"

#include <edgekey/edgekey.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace edgekey::shm {

RoMapping::RoMapping(RoMapping &&o) noexcept
    : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}

RoMapping &RoMapping::operator=(RoMapping &&o) noexcept {
  if (this != &o) {
    reset();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

RoMapping::~RoMapping() { reset(); }

void RoMapping::reset() {
  if (base_) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
}

int RoMapping::open(const std::string &name) {
  reset();
  int fd = name[0] == '/' ? ::open(name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                          : shm_open(("/" + name).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    if (errno == ENOENT) return EK_ERR_NO_TABLE;
    if (errno == EACCES || errno == EPERM) return EK_ERR_ACCESS;
    if (errno == ENAMETOOLONG || errno == EINVAL) return EK_ERR_INVALID_ARG;
    return EK_ERR_SYSTEM;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return EK_ERR_SYSTEM;
  }
  if (st.st_size <= 0) {
    close(fd);
    return EK_ERR_CORRUPT;
  }
  void *p = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return errno == ENOMEM ? EK_ERR_NOMEM : EK_ERR_SYSTEM;
  // A page of the segment not yet allocated (an empty slot the writer never
  // touched) is allocated by the first mapping to fault it: this one's advice
  // lets it be a huge page when the host allows (huge_pages.hpp). One system
  // call per (re)map, none per validate; failure (no THP) changes nothing.
  if (size_t(st.st_size) >= kHugePageSize) madvise(p, size_t(st.st_size), MADV_HUGEPAGE);
  base_ = p;
  size_ = size_t(st.st_size);
  return 0;
}

}  // namespace edgekey::shm
