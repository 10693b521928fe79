// crash_support.hpp -- what the crash tests share: counters in an anonymous
// shared mapping (so forked readers and writers report to the test), a
// read-only peek at a table's control header, process waits with a deadline,
// and a reader loop over the public C API that classifies every answer.
#pragma once

#include "shm/src/layout.hpp"

#include <edgekey/edgekey.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <new>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace edgekey::crashtest {

// What the reader processes found. One block per run, MAP_SHARED.
struct ReaderCounters {
  std::atomic<uint64_t> validations{0};
  std::atomic<uint64_t> torn{0};        // a record whose fields are not one whole version
  std::atomic<uint64_t> false_401{0};   // 401 for a key never revoked or removed
  std::atomic<uint64_t> wrong{0};       // any other answer that is not correct
  std::atomic<uint64_t> busy_503{0};    // keyset_unavailable (mid-write slot, bounded retries)
  std::atomic<uint64_t> api_errors{0};  // ek_open / ek_validate returned an error
  std::atomic<uint64_t> max_call_ns{0}; // diagnostic only, never asserted
  std::atomic<int> opened{0};           // readers that have their validator
  std::atomic<int> stop{0};
};

template <class T>
T *shared_block() {
  void *p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return new (p) T{};
}
template <class T>
void free_shared_block(T *p) {
  if (p) munmap(p, sizeof(T));
}

inline void atomic_max(std::atomic<uint64_t> &a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

inline uint64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t env_count(const char *name, uint64_t dflt) {
  const char *s = getenv(name);
  return s && *s ? std::strtoull(s, nullptr, 10) : dflt;
}

// Polls `cond` until it holds or the deadline passes (a condition wait).
inline bool poll_until(const std::function<bool()> &cond, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    struct timespec ts = {0, 200'000};  // poll interval of the condition
    nanosleep(&ts, nullptr);
  }
  return true;
}

// waitpid with a deadline: the status, or nullopt if `pid` is still running.
inline std::optional<int> wait_exit(pid_t pid, std::chrono::milliseconds limit) {
  int st = 0;
  std::optional<int> out;
  poll_until([&] {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) out = st;
    return r == pid || r < 0;
  }, limit);
  return out;
}

// True once child `pid` has exited (it stays waitable).
inline bool exited(pid_t pid) {
  siginfo_t si{};
  return waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid;
}

// Ends a child we started, for certain (used on failure paths).
inline int reap(pid_t pid) {
  if (auto st = wait_exit(pid, std::chrono::milliseconds(0))) return *st;
  kill(pid, SIGKILL);
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

inline std::string describe_status(int st) {
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("signal ") + strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

// The control header of table `name`, mapped read-only as a reader would.
class ControlPeek {
 public:
  explicit ControlPeek(const std::string &name) {
    int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
    if (fd < 0) return;
    struct stat sb;
    if (fstat(fd, &sb) == 0 && size_t(sb.st_size) >= sizeof(shm::ControlHeader)) {
      void *p = mmap(nullptr, sizeof(shm::ControlHeader), PROT_READ, MAP_SHARED, fd, 0);
      if (p != MAP_FAILED) ctl_ = static_cast<const shm::ControlHeader *>(p);
    }
    close(fd);
  }
  ~ControlPeek() {
    if (ctl_) munmap(const_cast<shm::ControlHeader *>(ctl_), sizeof(shm::ControlHeader));
  }
  ControlPeek(const ControlPeek &) = delete;
  ControlPeek &operator=(const ControlPeek &) = delete;
  bool ok() const { return ctl_ != nullptr; }
  uint64_t revision() const { return ctl_ ? ctl_->upstream_revision.load(std::memory_order_acquire) : 0; }
  uint64_t generation() const { return ctl_ ? ctl_->generation.load(std::memory_order_acquire) : 0; }
  int64_t writer_pid() const { return ctl_ ? ctl_->writer_pid.load(std::memory_order_relaxed) : 0; }

 private:
  const shm::ControlHeader *ctl_ = nullptr;
};

// What an answer may be, decided by the test for one token.
enum class Verdict { Ok, Torn, False401, Wrong, Busy };

// A reader process: validates random tokens of `tokens` through the public C
// API until `c.stop`, classifying each answer with `judge(index, result)`.
// Runs in a forked child; never returns.
[[noreturn]] inline void reader_process(const std::string &table, const std::vector<std::string> &tokens,
                                        const std::function<Verdict(size_t, const ek_result &)> &judge,
                                        ReaderCounters &c, uint64_t seed) {
  ek_validator *v = nullptr;
  if (ek_open(table.c_str(), &v) != 0) {
    c.api_errors += 1;
    c.opened += 1;
    _exit(3);
  }
  c.opened += 1;
  std::mt19937_64 rng(seed);
  uint64_t n = 0, torn = 0, f401 = 0, wrong = 0, busy = 0, errors = 0, max_ns = 0;
  auto flush = [&] {
    c.validations += n;
    c.torn += torn;
    c.false_401 += f401;
    c.wrong += wrong;
    c.busy_503 += busy;
    c.api_errors += errors;
    atomic_max(c.max_call_ns, max_ns);
    n = torn = f401 = wrong = busy = errors = 0;
  };
  ek_request req{};
  ek_result res;
  while (!c.stop.load(std::memory_order_relaxed)) {
    for (int k = 0; k < 256; ++k) {
      const size_t i = size_t(rng() % tokens.size());
      req.authorization = tokens[i].c_str();
      const uint64_t t0 = now_ns();
      const int rc = ek_validate(v, &req, &res);
      max_ns = std::max(max_ns, now_ns() - t0);
      ++n;
      if (rc != 0) {
        ++errors;
        continue;
      }
      switch (judge(i, res)) {
        case Verdict::Ok: break;
        case Verdict::Torn: ++torn; break;
        case Verdict::False401: ++f401; break;
        case Verdict::Wrong: ++wrong; break;
        case Verdict::Busy: ++busy; break;
      }
    }
    flush();
  }
  flush();
  ek_close(v);
  _exit(0);
}

// Prints what the readers found over `during` validations and checks the
// rules every crash test holds them to: no torn record, no false 401, no
// wrong answer, no API error (503s are allowed and only reported).
inline void check_readers(const ReaderCounters &c, uint64_t during) {
  printf("readers: validations %llu, torn %llu, false401 %llu, wrong %llu, 503 %llu, errors %llu, "
         "max call %.1f us (diagnostic)\n",
         (unsigned long long)during, (unsigned long long)c.torn.load(), (unsigned long long)c.false_401.load(),
         (unsigned long long)c.wrong.load(), (unsigned long long)c.busy_503.load(),
         (unsigned long long)c.api_errors.load(), double(c.max_call_ns.load()) / 1e3);
  EXPECT_EQ(c.torn.load(), 0u);
  EXPECT_EQ(c.false_401.load(), 0u);
  EXPECT_EQ(c.wrong.load(), 0u);
  EXPECT_EQ(c.api_errors.load(), 0u);
}

// Stops the readers and checks that every one of them returned (a reader
// stuck in ek_validate would be an unbounded spin).
inline int stop_readers(ReaderCounters &c, const std::vector<pid_t> &pids) {
  c.stop = 1;
  int stuck = 0;
  for (pid_t pid : pids) {
    auto st = wait_exit(pid, std::chrono::milliseconds(20000));
    if (!st) {
      ++stuck;
      reap(pid);
    } else {
      EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "reader " << describe_status(*st);
    }
  }
  return stuck;
}

// Reader processes and their counters, stopped and reaped however the test
// ends (an ASSERT that returns early must not leave them spinning).
class ReaderProcs {
 public:
  ReaderCounters *c = shared_block<ReaderCounters>();
  ReaderProcs() = default;
  ReaderProcs(const ReaderProcs &) = delete;
  ReaderProcs &operator=(const ReaderProcs &) = delete;
  ~ReaderProcs() {
    stop();
    free_shared_block(c);
  }
  // Forks `n` readers and waits until each has opened the table.
  bool spawn(int n, const std::string &table, const std::vector<std::string> &tokens,
             const std::function<Verdict(size_t, const ek_result &)> &judge, uint64_t seed) {
    for (int r = 0; r < n; ++r) {
      pid_t pid = fork();
      if (pid < 0) return false;
      if (pid == 0) reader_process(table, tokens, judge, *c, seed + uint64_t(r));
      pids_.push_back(pid);
    }
    return poll_until([&] { return c->opened.load() == n; }, std::chrono::milliseconds(20000)) &&
           c->api_errors.load() == 0;
  }
  // Stops them; returns how many did not return (a reader stuck in ek_validate).
  int stop() {
    const int stuck = stop_readers(*c, pids_);
    pids_.clear();
    return stuck;
  }

 private:
  std::vector<pid_t> pids_;
};

// Runs `f` when the scope ends (clean-up on every path out of a test).
struct OnExit {
  std::function<void()> f;
  ~OnExit() {
    if (f) f();
  }
};

}  // namespace edgekey::crashtest
