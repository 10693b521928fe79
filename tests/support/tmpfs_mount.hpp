// tmpfs_mount.hpp -- a private tmpfs of a chosen size on a fresh directory,
// for tests of a filesystem without room (a container's small /dev/shm, a
// full disk). Needs root (CI runs as root); elsewhere `why` says why there
// is none and the test skips with it. Unmounted (lazily, so a process still
// holding a file in it cannot keep it) and removed at the end.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace edgekey::test {

struct TmpfsMount {
  std::string path, why;

  explicit TmpfsMount(uint64_t bytes) {
    if (geteuid() != 0) {
      why = "needs root to mount a small tmpfs (CI runs as root)";
      return;
    }
    char tmpl[] = "/tmp/ektest-tmpfs.XXXXXX";
    if (!mkdtemp(tmpl)) {
      why = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    if (::mount("tmpfs", tmpl, "tmpfs", MS_NOSUID | MS_NODEV, options(bytes).c_str()) != 0) {
      why = std::string("mount -t tmpfs: ") + std::strerror(errno);
      rmdir(tmpl);
      return;
    }
    path = tmpl;
  }
  ~TmpfsMount() {
    if (path.empty()) return;
    umount2(path.c_str(), MNT_DETACH);
    rmdir(path.c_str());
  }
  TmpfsMount(const TmpfsMount &) = delete;
  TmpfsMount &operator=(const TmpfsMount &) = delete;

  bool ok() const { return !path.empty(); }
  std::string file(const std::string &name) const { return path + "/" + name; }

  // Gives the filesystem a new size (mount -o remount,size=…).
  bool resize(uint64_t bytes) {
    return ::mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT | MS_NOSUID | MS_NODEV, options(bytes).c_str()) == 0;
  }

  // Writes `name` until the filesystem is full (ENOSPC); returns the bytes
  // written. Removing the file gives the room back.
  uint64_t fill(const std::string &name = "filler") const {
    FILE *f = fopen(file(name).c_str(), "w");
    if (!f) return 0;
    static const char block[4096] = {1};
    uint64_t n = 0;
    while (fwrite(block, 1, sizeof block, f) == sizeof block) n += sizeof block;
    fclose(f);
    return n;
  }

 private:
  static std::string options(uint64_t bytes) { return "size=" + std::to_string(bytes) + ",mode=0755"; }
};

}  // namespace edgekey::test
