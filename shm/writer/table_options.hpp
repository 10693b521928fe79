// table_options.hpp -- what a TableWriter is created with, and its error type.
#pragma once

#include "shm/writer/limits.hpp"

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace edgekey::shm {

// Start-up and rebuild failures of the writer (segment creation, a table
// another writer holds, a foreign segment under our name). The message names
// the segment and what to do.
struct TableError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Transparent huge pages for the data segments (huge_pages.hpp says when
// the host gives them). Off: 4 KiB pages. Try: 2 MiB-sized segments, madvised
// and prefaulted, when the host allows it, else as Off. Require: as Try, but
// a host that does not allow it is a TableError at construction and in
// set_options().
enum class HugePages : uint8_t { Off, Try, Require };
inline const char *huge_pages_name(HugePages h) {
  return h == HugePages::Require ? "require" : h == HugePages::Try ? "try" : "off";
}

// What readers pass to ek_open for table `name` in `directory`
// (TableOptions::directory): the name, or "<directory>/<name>".
inline std::string table_address(const std::string &directory, const std::string &name) {
  size_t n = directory.size();
  while (n > 1 && directory[n - 1] == '/') --n;
  if (n == 0) return name;
  std::string a(directory, 0, n);  // appends, not operator+: GCC 12's -Wrestrict false positive
  a.push_back('/');
  a.append(name);
  return a;
}

struct TableOptions {
  std::string name;                 // POSIX shm name, no '/'; data segments add ".g<G>"
  // "" = POSIX shm (/dev/shm); else a directory on hugetlbfs or tmpfs that
  // holds the segments as files, and readers open "<directory>/<name>"
  // (segment.hpp). Fixed for the writer's life.
  std::string directory;
  uint64_t capacity = 1024;         // initial slots; the table grows on demand
  double max_load = 0.8;            // occupied/capacity that triggers a rebuild
  unsigned mode = 0640;
  std::string readers_group;        // group of the segments; empty = the writer's
  std::string key_prefix = "ek";
  bool legacy_tokens = false;
  std::string pepper_path;          // non-empty: HMAC-SHA-256 with the pepper in this file
  std::vector<std::string> permissions;  // at most 64; bit i = permissions[i]
  std::vector<std::string> roles;        // at most 64; TableRecord::role indexes this
  uint32_t staleness_max_s = 60;
  StalenessPolicy staleness_policy = StalenessPolicy::ServeStale;
  HugePages huge_pages = HugePages::Off;
};

}  // namespace edgekey::shm
