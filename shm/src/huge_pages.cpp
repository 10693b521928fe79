#include "shm/src/huge_pages.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older C libraries lack the name
#endif

namespace edgekey::shm {

namespace {

std::string read_file(const char *path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// "always within_size [advise] never deny force" -> "advise".
std::string selected(std::string_view text) {
  const size_t open = text.find('[');
  const size_t close = text.find(']', open);
  if (open == std::string_view::npos || close == std::string_view::npos) return {};
  return std::string(text.substr(open + 1, close - open - 1));
}

// True when mount point `mnt` contains the path `path`.
bool covers(std::string_view mnt, std::string_view path) {
  if (mnt == "/") return true;
  return path.substr(0, mnt.size()) == mnt && (path.size() == mnt.size() || path[mnt.size()] == '/');
}

}  // namespace

HugePageHost huge_page_host_from(std::string_view shmem_enabled_file, std::string_view mounts_file) {
  HugePageHost h;
  h.shmem_enabled = selected(shmem_enabled_file);
  h.dev_shm_huge = "never";
  // The mount that holds /dev/shm: the deepest covering mount point, the last
  // listed when stacked (the one on top).
  size_t best = 0;
  std::istringstream lines{std::string(mounts_file)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::string dev, mnt, type, opts;
    if (!(f >> dev >> mnt >> type >> opts) || !covers(mnt, "/dev/shm") || mnt.size() < best) continue;
    best = mnt.size();
    h.dev_shm_fstype = type;
    h.dev_shm_huge = "never";
    std::istringstream o(opts);
    for (std::string opt; std::getline(o, opt, ',');)
      if (opt.compare(0, 5, "huge=") == 0) h.dev_shm_huge = opt.substr(5);
  }
  if (h.shmem_enabled.empty() || h.shmem_enabled == "deny") h.allows = false;
  else if (h.shmem_enabled == "force") h.allows = true;
  else
    h.allows = h.dev_shm_fstype == "tmpfs" &&
               (h.dev_shm_huge == "advise" || h.dev_shm_huge == "always" || h.dev_shm_huge == "within_size");
  return h;
}

HugePageHost huge_page_host() {
  return huge_page_host_from(read_file(kShmemEnabledPath), read_file("/proc/self/mounts"));
}

std::string HugePageHost::describe() const {
  return std::string(kShmemEnabledPath) + " " + (shmem_enabled.empty() ? "absent" : shmem_enabled) +
         ", /dev/shm " + (dev_shm_fstype.empty() ? "unmounted" : dev_shm_fstype) + " huge=" + dev_shm_huge;
}

std::string HugePageHost::how_to_enable() const {
  if (allows) return {};
  if (shmem_enabled.empty())
    return "this kernel has no transparent huge pages (CONFIG_TRANSPARENT_HUGEPAGE): use table.huge_pages: off";
  std::string s;
  if (shmem_enabled == "deny") s = "write advise to " + std::string(kShmemEnabledPath) + " (deny forbids them) and ";
  if (dev_shm_fstype != "tmpfs")
    return s + "mount a tmpfs on /dev/shm with huge=advise, or write force to " + kShmemEnabledPath;
  return s + "run `mount -o remount,huge=advise /dev/shm` (keep it with huge=advise in /dev/shm's "
             "fstab line or a dev-shm.mount drop-in), or write force to " +
         kShmemEnabledPath + " (every shmem mapping of the host then gets huge pages)";
}

bool advise_huge_pages(void *addr, size_t len) { return madvise(addr, len, MADV_HUGEPAGE) == 0; }

int populate_write(void *addr, size_t len) {
  return madvise(addr, len, MADV_POPULATE_WRITE) == 0 ? 0 : errno;
}

uint64_t huge_mapped_bytes(const void *addr, size_t len) {
  std::ifstream in("/proc/self/smaps");
  const uintptr_t lo = uintptr_t(addr), hi = lo + len;
  bool inside = false;
  uint64_t kb = 0;
  for (std::string line; std::getline(in, line);) {
    // A mapping's header line starts with its lowercase-hex range; field
    // lines start with a capitalised name ("ShmemPmdMapped:   2048 kB").
    const char c = line.empty() ? ' ' : line[0];
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
      unsigned long start = 0, end = 0;
      inside = std::sscanf(line.c_str(), "%lx-%lx", &start, &end) == 2 && start >= lo && end <= hi;
      continue;
    }
    if (!inside) continue;
    for (std::string_view field :
         {"ShmemPmdMapped:", "FilePmdMapped:", "AnonHugePages:", "Shared_Hugetlb:", "Private_Hugetlb:"})
      if (line.compare(0, field.size(), field) == 0) kb += std::strtoull(line.c_str() + field.size(), nullptr, 10);
  }
  return kb * 1024;
}

}  // namespace edgekey::shm
