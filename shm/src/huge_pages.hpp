// huge_pages.hpp -- transparent huge pages (2 MiB) for the table's segments.
//
// Which pages a /dev/shm segment gets is the kernel's choice (mm/shmem.c):
//   - /sys/kernel/mm/transparent_hugepage/shmem_enabled `deny`: never;
//     `force`: always, whatever the mount says;
//   - otherwise the huge= option of the tmpfs mounted on /dev/shm decides:
//     `always` or `within_size`: huge; `advise`: huge for a mapping that was
//     madvise(MADV_HUGEPAGE)d when its fault allocates the page; `never` (the
//     default, and what no huge= in /proc/mounts means): never.
// shmem_enabled's other values (always, within_size, advise, never) apply
// to the kernel's internal mount only (SysV shm, memfd, MAP_SHARED|MAP_ANONYMOUS),
// not to /dev/shm.
//
// A page is allocated by whichever mapping faults it first, so the writer
// madvises before its first touch and prefaults the slots, and readers
// madvise too (a hole a reader faults first then is huge as well). The
// kernel places a mapping of >= 2 MiB on a 2 MiB boundary when huge pages are
// possible, and a 2 MiB range is PMD-mapped only if the whole range is inside
// the file: segments are sized in whole 2 MiB pages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::shm {

inline constexpr uint64_t kHugePageSize = uint64_t(2) << 20;
inline constexpr char kShmemEnabledPath[] = "/sys/kernel/mm/transparent_hugepage/shmem_enabled";

// What this host lets a madvised mapping of a /dev/shm segment get.
struct HugePageHost {
  std::string shmem_enabled;  // the selected value, "" when the file is absent (no THP)
  std::string dev_shm_huge;   // huge= of the mount holding /dev/shm, "never" when unset
  std::string dev_shm_fstype; // "tmpfs" normally
  bool allows = false;

  // "shmem_enabled never, /dev/shm tmpfs huge=never"
  std::string describe() const;
  // What an administrator sets to allow it (empty when allowed).
  std::string how_to_enable() const;
};

// Reads kShmemEnabledPath and /proc/self/mounts. Never throws.
HugePageHost huge_page_host();
// The same from the two files' text (tests).
HugePageHost huge_page_host_from(std::string_view shmem_enabled_file, std::string_view mounts_file);

// madvise(MADV_HUGEPAGE) over [addr, addr + len); false when the kernel
// refuses (no THP support). Harmless when huge pages are off.
bool advise_huge_pages(void *addr, size_t len);

// Allocates the pages of [addr, addr + len) of a writable shared mapping now
// (MADV_POPULATE_WRITE). 0, or an errno: EINVAL from kernels before 5.14
// (nothing done; pages come on first touch), ENOMEM/EFAULT when /dev/shm or
// memory is full.
int populate_write(void *addr, size_t len);

// Bytes of [addr, addr + len) this process maps with PMD (2 MiB) entries, from
// /proc/self/smaps: ShmemPmdMapped + FilePmdMapped + AnonHugePages (+ the
// Hugetlb fields, hugetlbfs) of every mapping inside the range. Walks the page tables of the whole process: call
// it when a generation is published, not per request. 0 when unreadable.
uint64_t huge_mapped_bytes(const void *addr, size_t len);

}  // namespace edgekey::shm
