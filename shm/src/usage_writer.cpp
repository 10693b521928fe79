#include "shm/src/usage_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace edgekey::shm {

namespace {

std::atomic<uint32_t> g_next_segment{0};  // <pid>.<n>: n unique within the process

uint64_t random64() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = uint64_t(ts.tv_nsec) * 0x9e3779b97f4a7c15ULL ^ uint64_t(getpid()) << 32 ^ uint64_t(ts.tv_sec);
  }
  return r ? r : 1;
}

}  // namespace

uint64_t UsageWriter::clock_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return uint64_t(ts.tv_sec);
}

bool UsageWriter::open(const std::string &table, const std::string &control_path,
                       const std::atomic<int64_t> *clock) {
  close();
  // Only a directory of the table's owner counts: anyone may create names
  // in /dev/shm, and a reader must not write where a stranger reads.
  struct stat ctl, dir;
  const std::string d = usage_dir(table);
  if (stat(control_path.c_str(), &ctl) != 0 || lstat(d.c_str(), &dir) != 0 || !S_ISDIR(dir.st_mode) ||
      dir.st_uid != ctl.st_uid || (dir.st_mode & S_IWOTH))
    return false;
  dir_ = d;
  dir_gid_ = long(dir.st_gid);
  clock_ = clock;
  return create(kUsageFirstEntries);
}

bool UsageWriter::create(uint32_t entries) {
  const uint64_t size = usage_segment_size(entries);
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = std::to_string(getpid()) + "." + std::to_string(g_next_segment.fetch_add(1));
    const std::string path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // a dead process's segment of the same pid, not reaped yet
      return false;
    }
    // The directory's group (the readers'), so edgekeyd may read it: a
    // reader is a member of that group, so it may give its file that group.
    // posix_fallocate: a full /dev/shm fails here, never with SIGBUS on a later store.
    // MAP_POPULATE: the pages (allocated just above) are mapped here in one
    // pass, not by a page fault on each count's first store to a page (up to
    // 256 faults per 1 MiB segment, spread over the validate calls after a
    // rollover).
    void *p = MAP_FAILED;
    if ((fchown(fd, uid_t(-1), gid_t(dir_gid_)) == 0 || getegid() == gid_t(dir_gid_)) &&
        posix_fallocate(fd, 0, off_t(size)) == 0)
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
      unlink(path.c_str());
      return false;
    }
    auto *h = static_cast<UsageHeader *>(p);
    h->version = kUsageVersion;
    h->entries = entries;
    h->pid = getpid();
    h->instance = random64();
    h->created_at = int64_t(clock_seconds());
    h->magic.store(kUsageMagic, std::memory_order_release);
    if (base_) {  // a rollover: the old segment is final
      hdr_->retired.store(1, std::memory_order_release);
      munmap(base_, usage_segment_size(mask_ + 1));
      retired_name_ = dir_ + "/" + name_;
    }
    base_ = p;
    name_ = std::move(name);
    hdr_ = h;
    counters_ = reinterpret_cast<UsageCounters *>(static_cast<char *>(p) + usage_counters_offset());
    entries_ = reinterpret_cast<UsageEntry *>(static_cast<char *>(p) + usage_entries_offset());
    mask_ = entries - 1;
    limit_ = usage_fill_limit(entries);
    used_ = 0;
    return true;
  }
  return false;
}

// The key table is full: this use is unattributed. The segment is retired
// for a fresh one, unless the one retired before is still there (the
// collector has not folded it: no edgekeyd, or a slow one), so a validator
// never has more than two segments; then it tries again every 4096 uses.
void UsageWriter::full(uint64_t) {
  bump(counters_->n[kUsageUnattributed]);
  if (since_retry_++ % 4096 != 0) return;
  struct stat st;
  if (!retired_name_.empty() && stat(retired_name_.c_str(), &st) == 0) return;
  create(std::min(kUsageMaxEntries, (mask_ + 1) * 2));
}

// A segment that counted nothing is removed here; any other is left for the
// collector to fold.
void UsageWriter::close() {
  if (!base_) return;
  bool counted = false;
  for (const auto &c : counters_->n) counted |= c.load(std::memory_order_relaxed) != 0;
  hdr_->retired.store(1, std::memory_order_release);
  if (!counted) unlink((dir_ + "/" + name_).c_str());
  munmap(base_, usage_segment_size(mask_ + 1));
  base_ = nullptr;
  hdr_ = nullptr;
  counters_ = nullptr;
  entries_ = nullptr;
  used_ = since_retry_ = 0;
  retired_name_.clear();
}

}  // namespace edgekey::shm
