#include "shm/src/usage_writer.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace edgekey::shm {

namespace {

std::atomic<uint32_t> g_next_segment{0};  // <pid>.<n>: n unique within the process
std::atomic<uint64_t> g_maker_rounds{0};

uint64_t random64() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = uint64_t(ts.tv_nsec) * 0x9e3779b97f4a7c15ULL ^ uint64_t(getpid()) << 32 ^ uint64_t(ts.tv_sec);
  }
  return r ? r : 1;
}

int64_t unix_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t(ts.tv_sec);
}

// A new segment of `entries` in `dir`, mapped read-write; null when it
// cannot be made (no permission, /dev/shm full).
UsageMapping *make_segment(const std::string &dir, long gid, uint32_t entries) {
  const uint64_t size = usage_segment_size(entries);
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = std::to_string(getpid()) + "." + std::to_string(g_next_segment.fetch_add(1));
    const std::string path = dir + "/" + name;
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // a dead process's segment of the same pid, not reaped yet
      return nullptr;
    }
    // The directory's group (the readers'), so edgekeyd may read it: a
    // reader is a member of that group, so it may give its file that group.
    // posix_fallocate: a full /dev/shm fails here, never with SIGBUS on a later store.
    // MAP_POPULATE: the pages (allocated just above) are mapped here in one
    // pass, not by a page fault on each count's first store to a page.
    void *p = MAP_FAILED;
    if ((fchown(fd, uid_t(-1), gid_t(gid)) == 0 || getegid() == gid_t(gid)) && posix_fallocate(fd, 0, off_t(size)) == 0)
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) {
      unlink(path.c_str());
      return nullptr;
    }
    auto *h = static_cast<UsageHeader *>(p);
    h->version = kUsageVersion;
    h->entries = entries;
    h->pid = getpid();
    h->instance = random64();
    h->created_at = unix_seconds();
    h->magic.store(kUsageMagic, std::memory_order_release);
    return new UsageMapping{p, entries, std::move(name)};
  }
  return nullptr;
}

void unmap_segment(UsageMapping *m) {
  munmap(m->base, usage_segment_size(m->entries));
  delete m;
}

// A segment that counted nothing (a spare never taken) is removed.
void drop_segment(const std::string &dir, UsageMapping *m) {
  unlink((dir + "/" + m->name).c_str());
  unmap_segment(m);
}

// The process's spare maker: one thread, started by the first writer that
// enrols (ek_open, ek_set_counting: never the validate path), that makes
// each writer's next segment when it asks (usage_writer.hpp, UsageSlot) and
// unmaps the segments writers retire. It wakes every 100 ms while writers
// are enrolled (10 ms while one waits for a spare), never while none is.
// The slots are touched only under mu_: after leave() the maker never
// touches that writer's slot again.
class SpareMaker {
 public:
  static SpareMaker &get() {
    static SpareMaker *m = new SpareMaker;  // never destroyed: its thread may outlive static destructors
    return *m;
  }

  // An id for leave(); 0 when no maker thread can run (the writer then
  // counts in its first segment only).
  uint64_t enroll(UsageSlot *slot, const std::string &dir, long gid) {
    std::lock_guard lock(mu_);
    if (!running_ && !start()) return 0;
    const uint64_t id = next_id_++;
    writers_.emplace(id, Writer{slot, dir, gid, {}, {}});
    cv_.notify_one();
    return id;
  }
  void leave(uint64_t id) {
    std::lock_guard lock(mu_);
    writers_.erase(id);
  }

 private:
  struct Writer {
    UsageSlot *slot;
    std::string dir;
    long gid;
    std::string retired_path;  // its last retired segment: no spare until the collector removed it
    std::chrono::steady_clock::time_point retry_after;  // after a spare could not be made
  };

  SpareMaker() {
    // fork: mu_ is held across it, so the child never finds it held by a
    // thread it does not have; the child has no maker thread (a writer's
    // enrol there starts one).
    pthread_atfork([] { get().mu_.lock(); }, [] { get().mu_.unlock(); }, [] { get().after_fork_in_child(); });
  }

  void after_fork_in_child() {
    new (&cv_) std::condition_variable;  // the parent's maker may have been waiting on it
    running_ = false;
    // The parent's spares and retired segments stay the parent's.
    for (auto &[id, w] : writers_) {
      w.slot->ready.store(nullptr, std::memory_order_relaxed);
      w.slot->retired.store(nullptr, std::memory_order_relaxed);
      w.retired_path.clear();
    }
    mu_.unlock();
  }

  // Under mu_. The thread blocks every signal (they are the process's
  // threads' to take, e.g. an nginx worker's), and pins the library: a
  // dlclose() must not unmap the code it runs.
  bool start() {
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&make_segment), &info) && info.dli_fname)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    try {
      std::thread([this] { run(); }).detach();
      running_ = true;
    } catch (const std::exception &) {  // no thread (RLIMIT_NPROC, memory): no spares
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return running_;
  }

  void run() {
    pthread_setname_np(pthread_self(), "edgekey-usage");
    using namespace std::chrono_literals;
    struct Job {
      uint64_t id;
      std::string dir, retired;
      long gid;
      uint32_t entries;
      bool retired_gone = false;
      UsageMapping *made = nullptr;
    };
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return !writers_.empty(); });
      std::vector<Job> jobs;
      std::vector<UsageMapping *> unmap;
      std::vector<std::pair<std::string, UsageMapping *>> drop;
      const auto now = std::chrono::steady_clock::now();
      bool waiting = false;
      for (auto &[id, w] : writers_) {
        UsageSlot &s = *w.slot;
        if (s.ready.load(std::memory_order_acquire)) continue;  // not taken yet (then nothing is retired)
        if (UsageMapping *r = s.retired.load(std::memory_order_relaxed)) {
          s.retired.store(nullptr, std::memory_order_relaxed);
          w.retired_path = w.dir + "/" + r->name;
          unmap.push_back(r);
        }
        const uint32_t want = s.want.load(std::memory_order_relaxed);
        if (want == 0) continue;
        waiting = true;
        if (now >= w.retry_after) jobs.push_back(Job{id, w.dir, w.retired_path, w.gid, want});
      }
      lock.unlock();
      for (UsageMapping *m : unmap) unmap_segment(m);
      for (Job &j : jobs) {
        struct stat st;
        if (!j.retired.empty() && stat(j.retired.c_str(), &st) == 0) continue;  // not folded yet
        j.retired_gone = true;
        j.made = make_segment(j.dir, j.gid, j.entries);
      }
      lock.lock();
      for (Job &j : jobs) {
        auto it = writers_.find(j.id);
        if (it == writers_.end()) {  // left meanwhile
          if (j.made) drop.emplace_back(j.dir, j.made);
          continue;
        }
        if (j.retired_gone) it->second.retired_path.clear();
        if (j.made) it->second.slot->ready.store(j.made, std::memory_order_release);
        else if (j.retired_gone) it->second.retry_after = now + 1s;
      }
      if (!drop.empty()) {
        lock.unlock();
        for (auto &[dir, m] : drop) drop_segment(dir, m);
        lock.lock();
      }
      g_maker_rounds.fetch_add(1, std::memory_order_relaxed);
      cv_.wait_for(lock, waiting ? 10ms : 100ms);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Writer> writers_;
  uint64_t next_id_ = 1;
  bool running_ = false;
};

}  // namespace

uint64_t usage_spare_maker_rounds() { return g_maker_rounds.load(std::memory_order_relaxed); }

uint64_t UsageWriter::clock_seconds() { return uint64_t(unix_seconds()); }

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
  UsageMapping *first = make_segment(d, long(dir.st_gid), kUsageFirstEntries);
  if (!first) return false;
  dir_ = d;
  dir_gid_ = long(dir.st_gid);
  clock_ = clock;
  slot_ = new UsageSlot;
  slot_id_ = SpareMaker::get().enroll(slot_, dir_, dir_gid_);
  if (slot_id_ == 0) {
    delete slot_;
    slot_ = nullptr;
  }
  adopt(first);
  return true;
}

void UsageWriter::adopt(UsageMapping *m) {
  seg_ = m;
  hdr_ = static_cast<UsageHeader *>(m->base);
  counters_ = reinterpret_cast<UsageCounters *>(static_cast<char *>(m->base) + usage_counters_offset());
  entries_ = reinterpret_cast<UsageEntry *>(static_cast<char *>(m->base) + usage_entries_offset());
  mask_ = m->entries - 1;
  limit_ = usage_fill_limit(m->entries);
  used_ = 0;
  ask_at_ = slot_ ? limit_ / 2 : 0;
}

void UsageWriter::ask_spare() { slot_->want.store(std::min(kUsageMaxEntries, (mask_ + 1) * 2), std::memory_order_relaxed); }

// The key table is full (or the key's probe too long). With a spare ready,
// the segment is retired (final: the collector folds it and removes it) and
// the spare takes this use; without one the use is unattributed. No system
// call: the maker unmaps the retired segment.
void UsageWriter::full(uint64_t tag) {
  UsageMapping *spare = slot_ ? slot_->ready.load(std::memory_order_acquire) : nullptr;
  if (!spare) {
    bump(counters_->n[kUsageUnattributed]);
    return;
  }
  hdr_->retired.store(1, std::memory_order_release);
  slot_->want.store(0, std::memory_order_relaxed);
  slot_->retired.store(seg_, std::memory_order_relaxed);
  slot_->ready.store(nullptr, std::memory_order_release);
  adopt(spare);
  count_key(tag);  // an empty table: taken at the first probe
}

// A segment that counted nothing is removed here; any other is left for the
// collector to fold.
void UsageWriter::close() {
  if (!seg_) return;
  if (slot_) {
    SpareMaker::get().leave(slot_id_);  // the maker no longer touches slot_
    if (UsageMapping *s = slot_->ready.load(std::memory_order_acquire)) drop_segment(dir_, s);
    if (UsageMapping *r = slot_->retired.load(std::memory_order_relaxed)) unmap_segment(r);
    delete slot_;
    slot_ = nullptr;
  }
  bool counted = used_ != 0;  // a spare's first key use has its code in the segment before
  for (const auto &c : counters_->n) counted |= c.load(std::memory_order_relaxed) != 0;
  hdr_->retired.store(1, std::memory_order_release);
  if (counted) unmap_segment(seg_);
  else drop_segment(dir_, seg_);
  seg_ = nullptr;
  hdr_ = nullptr;
  counters_ = nullptr;
  entries_ = nullptr;
  used_ = ask_at_ = 0;
}

}  // namespace edgekey::shm
