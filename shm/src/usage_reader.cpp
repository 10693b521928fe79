#include "shm/src/usage_reader.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace edgekey::shm {

std::string prepare_usage_dir(const std::string &table, const std::string &group) {
  const std::string d = usage_dir(table);
  long gid = -1;
  if (!group.empty()) {
    struct group gr, *res = nullptr;
    char buf[4096];
    if (getgrnam_r(group.c_str(), &gr, buf, sizeof buf, &res) != 0 || !res)
      return "table.readers_group '" + group + "' does not exist: readers validate without counting";
    gid = long(res->gr_gid);
  }
  if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST)
    return "cannot create the usage directory " + d + ": " + strerror(errno) +
           " (readers validate without counting)";
  struct stat st;
  if (lstat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
    return "the usage directory " + d + " is not a directory of this user: remove it and restart edgekeyd "
           "(readers validate without counting meanwhile)";
  if ((gid >= 0 && chown(d.c_str(), uid_t(-1), gid_t(gid)) != 0) || chmod(d.c_str(), 03770) != 0)
    return "cannot set the group or mode of the usage directory " + d + ": " + strerror(errno);
  return "";
}

std::vector<std::string> usage_segment_names(const std::string &table) {
  std::vector<std::string> out;
  if (DIR *dir = opendir(usage_dir(table).c_str())) {
    while (const dirent *e = readdir(dir))
      if (e->d_type == DT_REG || e->d_type == DT_UNKNOWN)
        if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    closedir(dir);
  }
  return out;
}

void remove_usage_dir(const std::string &table) {
  const std::string d = usage_dir(table);
  for (const std::string &n : usage_segment_names(table)) unlink((d + "/" + n).c_str());
  rmdir(d.c_str());
}

UsageSegment::UsageSegment(UsageSegment &&o) noexcept { *this = std::move(o); }

UsageSegment &UsageSegment::operator=(UsageSegment &&o) noexcept {
  if (this != &o) {
    reset();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    hdr_ = std::exchange(o.hdr_, nullptr);
    counters_ = std::exchange(o.counters_, nullptr);
    entries_ = std::exchange(o.entries_, nullptr);
    entries_n_ = std::exchange(o.entries_n_, 0);
  }
  return *this;
}

void UsageSegment::reset() {
  if (base_) munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
  hdr_ = nullptr;
  counters_ = nullptr;
  entries_ = nullptr;
  entries_n_ = 0;
}

bool UsageSegment::open(const std::string &path) {
  reset();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_size) < usage_entries_offset() ||
      uint64_t(st.st_size) > usage_segment_size(kUsageMaxEntries)) {
    ::close(fd);
    return false;
  }
  void *p = mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return false;
  base_ = p;
  size_ = size_t(st.st_size);
  const auto *h = static_cast<const UsageHeader *>(p);
  const uint32_t n = h->entries;
  if (h->magic.load(std::memory_order_acquire) != kUsageMagic || h->version != kUsageVersion || n == 0 ||
      (n & (n - 1)) != 0 || n > kUsageMaxEntries || usage_segment_size(n) > size_) {
    reset();
    return false;
  }
  hdr_ = h;
  counters_ = reinterpret_cast<const UsageCounters *>(static_cast<const char *>(p) + usage_counters_offset());
  entries_ = reinterpret_cast<const UsageEntry *>(static_cast<const char *>(p) + usage_entries_offset());
  entries_n_ = n;
  return true;
}

}  // namespace edgekey::shm
