// atomic_file.cpp -- write aside, fsync, rename, fsync the directory.
#include "sync/record/atomic_file.hpp"

#include <algorithm>
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

bool write_all(int fd, const void *data, size_t size) {
  const auto *p = static_cast<const char *>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = ENOSPC;  // no progress on a regular file: no room
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

bool read_all(int fd, void *data, size_t size) {
  auto *p = static_cast<char *>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::read(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

FileStamp FileStamp::of(const struct stat &st) {
  FileStamp s;
  s.dev = uint64_t(st.st_dev);
  s.ino = uint64_t(st.st_ino);
  s.size = uint64_t(st.st_size);
  s.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ctime_ns = int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return s;
}

void FileAppender::wrote(uint64_t n) {
  size_ += n;
  if (size_ - flushed_ >= kWritebackBytes) {  // start writing back what is complete; fsync waits for the rest
    ::sync_file_range(fd_, off_t(flushed_), off_t(size_ - flushed_), SYNC_FILE_RANGE_WRITE);
    flushed_ = size_;
  }
}

void FileAppender::append(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(bytes.size(), kWritebackBytes);
    if (!write_all(fd_, bytes.data(), n)) throw sys_failure("cannot write", tmp_, dir_, path_);
    bytes.remove_prefix(n);
    wrote(n);
  }
}

void FileAppender::copy(int src_fd, uint64_t offset, uint64_t length) {
  while (length > 0) {
    const size_t want = size_t(std::min<uint64_t>(length, kWritebackBytes));
    ssize_t n = -1;
    if (kernel_copy_) {
      loff_t in = loff_t(offset);
      n = ::copy_file_range(src_fd, &in, fd_, nullptr, want, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        kernel_copy_ = false;  // not between these files: through a buffer
        continue;
      }
      if (n < 0) throw sys_failure("cannot write", tmp_, dir_, path_);
    } else {
      std::string buf(want, '\0');
      n = ::pread(src_fd, buf.data(), want, off_t(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw KeysetError("cannot read the file being replaced, " + path_ + ": " + std::strerror(errno), errno);
      if (!write_all(fd_, buf.data(), size_t(n))) throw sys_failure("cannot write", tmp_, dir_, path_);
    }
    if (n == 0) throw KeysetError(path_ + " changed while it was being replaced (shorter than read); nothing written");
    offset += uint64_t(n);
    length -= uint64_t(n);
    wrote(uint64_t(n));
  }
}

void replace_file_atomically(const std::string &path, const std::string &text, unsigned new_mode) {
  replace_file_copying(path, [&](FileAppender &out) { out.append(text); }, new_mode);
}

void replace_file_atomically(const std::string &path, const std::function<bool(std::string &)> &fill,
                             unsigned new_mode) {
  replace_file_copying(path, [&](FileAppender &out) {
    std::string buf;
    for (bool more = true; more;) {
      buf.clear();
      more = fill(buf);
      out.append(buf);
    }
  }, new_mode);
}

FileStamp replace_file_copying(const std::string &path_in, const std::function<void(FileAppender &)> &write,
                               unsigned new_mode, const std::function<void(const FileStamp &)> &renamed) {
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
  FileAppender out(fd, tmp, dir, path);
  try {
    write(out);
  } catch (...) {  // no temp file is left, whatever fails
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::fsync(fd) != 0) fail("cannot fsync", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename a temp file over", path);
  // From here the new file is in place: what fails is reported, nothing is undone.
  struct stat now{};
  const bool stamped = ::fstat(fd, &now) == 0;
  ::close(fd);  // after a good fsync, nothing of the file is lost whatever close says
  const FileStamp stamp = stamped ? FileStamp::of(now) : FileStamp{};
  if (renamed && stamped) renamed(stamp);
  fsync_dir(dir);
  return stamp;
}

}  // namespace edgekey::sync
