// atomic_file.cpp -- write aside, fsync, rename, fsync the directory.
#include "sync/atomic_file.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

namespace edgekey::sync {
namespace {

std::string sys_error(const std::string &what, const std::string &path) {
  return what + " " + path + ": " + std::strerror(errno);
}

// A KeysetError from errno; a full filesystem names the file left as it was.
KeysetError sys_failure(const std::string &what, const std::string &where, const std::string &dir,
                        const std::string &path) {
  const int err = errno;
  std::string msg = what + " " + where + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT)
    msg += std::string(err == EDQUOT ? " (the disk quota on the filesystem of " : " (the filesystem of ") + dir +
           (err == EDQUOT ? " is used up; " : " is full; ") + path + " is unchanged)";
  return KeysetError(msg, err);
}

bool write_all(int fd, const std::string &data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ENOSPC;  // no progress on a regular file: no room
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

void fsync_dir(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw KeysetError(sys_error("cannot open directory", dir), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  errno = err;
  if (rc != 0) throw KeysetError(sys_error("cannot fsync directory", dir), err);
}

}  // namespace

void replace_file_atomically(const std::string &path, const std::string &text, unsigned new_mode) {
  replace_file_atomically(path, [&](std::string &buf) {
    buf = text;
    return false;
  }, new_mode);
}

void replace_file_atomically(const std::string &path_in, const std::function<bool(std::string &)> &fill,
                             unsigned new_mode) {
  namespace fs = std::filesystem;
  std::string path = path_in;
  struct stat st{};
  bool exists = ::lstat(path.c_str(), &st) == 0;
  if (exists && S_ISLNK(st.st_mode)) {
    std::error_code ec;
    fs::path target = fs::canonical(path, ec);
    if (ec) throw KeysetError("cannot resolve symlink " + path + ": " + ec.message(), ec.value());
    path = target.string();
    exists = ::stat(path.c_str(), &st) == 0;
  }
  fs::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::string name = ".";  // built by appends: GCC 12 misreports "." + string&& (-Wrestrict)
  name.append(p.filename().string()).append(".tmp.XXXXXX");
  std::string tmp = (fs::path(dir) / name).string();

  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) throw sys_failure("cannot create a temp file in", dir, dir, path);
  // Removes the temp file and throws; the file at `path` is untouched.
  auto fail = [&](const std::string &what, const std::string &where) {
    int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    errno = err;
    throw sys_failure(what, where, dir, path);
  };
  if (exists) {
    if (::fchmod(fd, st.st_mode & 07777) != 0) fail("cannot set the mode of", tmp);
    if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) fail("cannot set the owner of", tmp);
  } else if (::fchmod(fd, new_mode) != 0) {
    fail("cannot set the mode of", tmp);
  }
  std::string buf;
  for (bool more = true; more;) {
    buf.clear();
    try {
      more = fill(buf);
    } catch (...) {  // no temp file is left, whatever fails
      ::close(fd);
      ::unlink(tmp.c_str());
      throw;
    }
    if (!write_all(fd, buf)) fail("cannot write", tmp);
  }
  if (::fsync(fd) != 0) fail("cannot fsync", tmp);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) fail("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename a temp file over", path);
  fsync_dir(dir);
}

}  // namespace edgekey::sync
