#include "shm/writer/usage_reader.hpp"

#include "shm/src/usage_layout.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
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
  // fchown/fchmod on the directory itself: what edgekeyd's systemd sandbox
  // allows (no chown(2); no set-group-ID bit, so each reader gives its own
  // segment the directory's group, usage_writer.cpp).
  const int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid != geteuid()) {
    if (fd >= 0) ::close(fd);
    return "the usage directory " + d + " is not a directory of this user: remove it and restart edgekeyd "
           "(readers validate without counting meanwhile)";
  }
  const bool ok = (gid < 0 || fchown(fd, uid_t(-1), gid_t(gid)) == 0) && fchmod(fd, 01770) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) return "cannot set the group or mode of the usage directory " + d + ": " + strerror(err);
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

bool usage_segment_unfinished(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return false;
  alignas(kCacheLine) UsageHeader h;
  struct stat st;
  bool unfinished = false;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    const ssize_t n = pread(fd, &h, sizeof h, 0);
    unfinished = n >= 0 && (n < ssize_t(sizeof h) || h.magic.load(std::memory_order_acquire) != kUsageMagic);
  }
  ::close(fd);
  return unfinished;
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
    fd_ = std::exchange(o.fd_, -1);
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
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::free(base_);
  base_ = nullptr;
  size_ = 0;
  hdr_ = nullptr;
  counters_ = nullptr;
  entries_ = nullptr;
  entries_n_ = 0;
}

bool UsageSegment::open(const std::string &path) {
  reset();
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd_ < 0) return false;
  struct stat st;
  alignas(kCacheLine) UsageHeader h;
  if (fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) ||
      pread(fd_, &h, sizeof h, 0) != ssize_t(sizeof h)) {
    reset();
    return false;
  }
  const uint32_t n = h.entries;
  if (h.magic.load(std::memory_order_acquire) != kUsageMagic || h.version != kUsageVersion || n == 0 ||
      (n & (n - 1)) != 0 || n > kUsageMaxEntries) {
    reset();
    return false;
  }
  size_ = size_t(usage_segment_size(n));
  base_ = std::aligned_alloc(kCacheLine, (size_ + kCacheLine - 1) / kCacheLine * kCacheLine);
  if (!base_) {
    reset();
    return false;
  }
  std::memset(base_, 0, size_);
  hdr_ = static_cast<const UsageHeader *>(base_);
  counters_ = reinterpret_cast<const UsageCounters *>(static_cast<const char *>(base_) + usage_counters_offset());
  entries_ = reinterpret_cast<const UsageEntry *>(static_cast<const char *>(base_) + usage_entries_offset());
  entries_n_ = n;
  if (!read()) {
    reset();
    return false;
  }
  return true;
}

bool UsageSegment::read() {
  if (fd_ < 0) return false;
  alignas(kCacheLine) UsageHeader h;
  if (pread(fd_, &h, sizeof h, 0) != ssize_t(sizeof h) || h.entries != entries_n_) return false;
  std::atomic_thread_fence(std::memory_order_acquire);
  char *dst = static_cast<char *>(base_);
  const size_t body = size_ - sizeof h;
  if (pread(fd_, dst + sizeof h, body, off_t(sizeof h)) != ssize_t(body)) return false;  // the copy is not to be used
  std::memcpy(dst, static_cast<const void *>(&h), sizeof h);
  return true;
}

int64_t UsageSegment::pid() const { return hdr_->pid; }
uint64_t UsageSegment::instance() const { return hdr_->instance; }
bool UsageSegment::retired() const { return hdr_->retired.load(std::memory_order_acquire) != 0; }
uint64_t UsageSegment::counter(int i) const { return counters_->n[i].load(std::memory_order_relaxed); }
uint64_t UsageSegment::word(uint32_t i) const { return entries_[i].word.load(std::memory_order_acquire); }
uint64_t UsageSegment::tag(uint32_t i) const { return entries_[i].tag.load(std::memory_order_relaxed); }

}  // namespace edgekey::shm
