// keyset_dir.cpp -- see keyset_dir.hpp.
#include "sync/record/keyset_dir.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <sys/stat.h>

namespace edgekey::sync {

bool is_keyset_part_name(std::string_view name) {
  constexpr std::string_view ext = ".yaml";
  return name.size() > ext.size() && name[0] != '.' && name.substr(name.size() - ext.size()) == ext;
}

bool is_keyset_dir(const std::string &path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool list_keyset_parts(const std::string &dir, std::vector<std::string> &names, std::string &error) {
  names.clear();
  DIR *d = ::opendir(dir.c_str());
  if (!d) {
    error = "keyset directory " + dir + ": cannot list (" + std::strerror(errno) + ")";
    return false;
  }
  while (const dirent *e = ::readdir(d)) {
    if (!is_keyset_part_name(e->d_name)) continue;
    struct stat st{};
    const std::string p = dir + "/" + e->d_name;
    if (::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return true;
}

std::string keyset_dir_lock_base(const std::string &dir) { return dir + "/"; }

std::string keyset_part_for_new_key(const std::vector<std::string> &names, const std::vector<size_t> &counts) {
  size_t best = names.size();
  for (size_t i = 0; i < names.size() && i < counts.size(); ++i)
    if (counts[i] < kKeysetPartKeys && (best == names.size() || counts[i] < counts[best])) best = i;
  if (best < names.size()) return names[best];
  unsigned top = 0;
  for (const std::string &n : names) {
    unsigned v = 0;
    char tail[8] = {};
    if (std::sscanf(n.c_str(), "keys-%u%7s", &v, tail) == 2 && std::strcmp(tail, ".yaml") == 0) top = std::max(top, v);
  }
  char name[32];
  std::snprintf(name, sizeof name, "keys-%04u.yaml", top + 1);
  return name;
}

}  // namespace edgekey::sync
