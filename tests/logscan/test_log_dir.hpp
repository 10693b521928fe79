// test_log_dir.hpp -- where test fixtures keep the logs of the processes
// they start (edgekeyd, nats-server, nginx, edgekeyctl's stderr), so that
// tests/logscan's log_scan can check after the suite that no log line holds
// a token.
//
// When EDGEKEY_TEST_LOG_DIR is set (ctest sets it for every test that
// requires the edgekey_test_logs fixture), a log goes to a file of its own in
// that directory, which outlives the test's temp dir:
//   <test binary>[.<gtest test>]-<pid>-<n>-<what>.log
// unique per call (pid of the test process, n counts calls in it). Unset, the
// fixture keeps its log where it always did (its temp dir).
//
// Header-only and framework-free: tests/support (also used by the
// benchmarks) includes it.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace edgekey::test {

// The gtest test this process runs, from the --gtest_filter= ctest passes
// to each discovered test ("" when run otherwise), with '/' and '*' made
// file-name safe.
inline std::string running_gtest_name() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string arg;
  const std::string flag = "--gtest_filter=";
  while (std::getline(in, arg, '\0')) {
    if (arg.compare(0, flag.size(), flag) != 0) continue;
    std::string name = arg.substr(flag.size());
    for (char &c : name)
      if (c == '/' || c == '*' || c == ':' || c == '?') c = '_';
    return name.substr(0, 120);
  }
  return "";
}

// A new, unique log file path in EDGEKEY_TEST_LOG_DIR for `what` (e.g.
// "edgekeyd"), the directory created if missing; "" when the variable is
// unset or empty.
inline std::string shared_log_path(std::string_view what) {
  const char *dir = std::getenv("EDGEKEY_TEST_LOG_DIR");
  if (!dir || !*dir) return "";
  static std::atomic<unsigned> calls{0};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string name = program_invocation_short_name;
  if (const std::string test = running_gtest_name(); !test.empty()) name += "." + test;
  return std::string(dir) + "/" + name + "-" + std::to_string(getpid()) + "-" + std::to_string(calls++) + "-" +
         std::string(what) + ".log";
}

// shared_log_path(what), or `fallback` when there is no shared directory.
inline std::string log_path_or(std::string_view what, std::string fallback) {
  std::string p = shared_log_path(what);
  return p.empty() ? fallback : p;
}

// Keeps output a test captured in memory (e.g. edgekeyctl's stderr) as a log
// of its own in the shared directory; nothing when there is none.
inline void keep_log(std::string_view what, std::string_view text) {
  const std::string p = shared_log_path(what);
  if (p.empty()) return;
  std::ofstream(p, std::ios::binary) << text;
}

}  // namespace edgekey::test
