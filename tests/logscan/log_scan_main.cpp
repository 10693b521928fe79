// log_scan -- scans every log the integration tests left in a directory
// (EDGEKEY_TEST_LOG_DIR, see test_log_dir.hpp) for API keys.
//
//   log_scan [--legacy STEM]... DIR
//
// Prints each line holding a token as FILE:LINE with the token redacted, then
// how many files and lines were scanned (per kind of log). Exit 0: logs were
// scanned and none holds a token; 1: a token was found; 2: usage error, an
// unreadable file, or no log at all (a scan of nothing proves nothing).
#include "log_scan.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace {

constexpr size_t kShownChars = 400;  // of a reported line

// The kind of a log from its name, "<...>-<pid>-<n>-<what>.log" -> what.
std::string kind_of(const std::string &path) {
  static const std::regex name_re("-[0-9]+-[0-9]+-(.+)\\.log$");
  const std::string name = std::filesystem::path(path).filename().string();
  std::smatch m;
  return std::regex_search(name, m, name_re) ? m[1].str() : "other";
}

}  // namespace

int main(int argc, char **argv) {
  std::vector<std::string> stems;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--legacy") == 0 && i + 1 < argc) {
      stems.emplace_back(argv[++i]);
    } else if (argv[i][0] != '-' && dir.empty()) {
      dir = argv[i];
    } else {
      std::fprintf(stderr, "usage: log_scan [--legacy STEM]... DIR\n");
      return 2;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: log_scan [--legacy STEM]... DIR\n");
    return 2;
  }

  const edgekey::logscan::DirScan scan = edgekey::logscan::scan_dir(dir, stems);
  for (const auto &f : scan.findings) {
    std::string shown = f.redacted.substr(0, kShownChars);
    if (f.redacted.size() > kShownChars) shown += "…";
    std::printf("%s:%zu: a token in a log: %s\n", f.file.c_str(), f.line, shown.c_str());
  }
  for (const auto &e : scan.errors) std::fprintf(stderr, "log_scan: %s\n", e.c_str());

  std::map<std::string, size_t> kinds;
  for (const auto &path : scan.scanned) ++kinds[kind_of(path)];
  std::string by_kind;
  for (const auto &[k, n] : kinds) by_kind += (by_kind.empty() ? "" : ", ") + k + " " + std::to_string(n);
  std::printf("log_scan: %zu files, %zu lines scanned in %s (%s): %zu lines with a token\n", scan.files,
              scan.lines, dir.c_str(), by_kind.empty() ? "none" : by_kind.c_str(), scan.findings.size());

  if (!scan.errors.empty()) return 2;
  if (scan.files == 0) {
    std::fprintf(stderr,
                 "log_scan: no log in %s: the tests that ran wrote none there (is EDGEKEY_TEST_LOG_DIR set "
                 "for them, and does each test requiring the edgekey_test_logs fixture start a process?)\n",
                 dir.c_str());
    return 2;
  }
  return scan.findings.empty() ? 0 : 1;
}
