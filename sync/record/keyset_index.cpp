// keyset_index.cpp -- see keyset_index.hpp.
//
// Layout (native byte order; the index never leaves its host): nine 64-bit
// words -- magic, device, inode, size, mtime_ns, ctime_ns, dash column,
// entry count, checksum -- then the entries, four words each. The checksum
// covers the eight words before it and the entries.
#include "sync/record/keyset_index.hpp"

#include "sync/record/key_record.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace edgekey::sync {
namespace {

constexpr uint64_t kMagic = 0x3130584449534b45ull;  // "EKSIDX01" read as a little-endian word
constexpr size_t kHeaderWords = 9;
static_assert(sizeof(KeysetIndexEntry) == 32, "entries are stored as they are in memory");

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Four independent lanes (no chain of multiplies), folded at the end.
uint64_t checksum(const uint64_t *head, size_t head_words, const KeysetIndexEntry *e, size_t n) {
  uint64_t lane[4] = {1, 2, 3, 4};
  for (size_t i = 0; i < head_words; ++i) lane[i % 4] = (lane[i % 4] ^ head[i]) * 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; ++i) {
    lane[0] = (lane[0] ^ e[i].id_key) * 0x9e3779b97f4a7c15ull;
    lane[1] = (lane[1] ^ e[i].hash_head) * 0xc2b2ae3d27d4eb4full;
    lane[2] = (lane[2] ^ e[i].begin) * 0x165667b19e3779f9ull;
    lane[3] = (lane[3] ^ e[i].end) * 0x9e3779b97f4a7c15ull;
  }
  return mix(lane[0] ^ mix(lane[1] ^ mix(lane[2] ^ mix(lane[3] ^ n))));
}

std::array<uint64_t, kHeaderWords> header_of(const KeysetIndex &x) {
  return {kMagic,         x.stamp.dev, x.stamp.ino,   x.stamp.size, uint64_t(x.stamp.mtime_ns), uint64_t(x.stamp.ctime_ns),
          x.dash_column, x.entries.size(), 0};
}

}  // namespace

uint64_t keyset_id_key(std::string_view id) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then mixed
  for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ull;
  return mix(h);
}

uint64_t keyset_hash_head(const std::string &hash_text) {
  std::array<uint8_t, 32> h{};
  if (!parse_record_hash(hash_text, h)) return 0;
  uint64_t w[4];
  std::memcpy(w, h.data(), sizeof w);
  return w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ (w[2] * 0xc2b2ae3d27d4eb4full) ^ (w[3] * 0x165667b19e3779f9ull);
}

std::string keyset_index_path(const std::string &keyset_path) { return keyset_path + ".index"; }

std::optional<KeysetIndex> load_keyset_index(const std::string &index_path, const FileStamp &expect) {
  int fd = ::open(index_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::array<uint64_t, kHeaderWords> head{};
  if (!read_all(fd, head.data(), sizeof head)) return std::nullopt;
  KeysetIndex x;
  x.stamp = FileStamp{head[1], head[2], head[3], int64_t(head[4]), int64_t(head[5])};
  x.dash_column = head[6];
  const uint64_t n = head[7];
  struct stat st{};
  if (head[0] != kMagic || !(x.stamp == expect) || ::fstat(fd, &st) != 0 ||
      uint64_t(st.st_size) != sizeof head + n * sizeof(KeysetIndexEntry))
    return std::nullopt;
  x.entries.resize(n);
  if (!read_all(fd, x.entries.data(), n * sizeof(KeysetIndexEntry))) return std::nullopt;
  if (checksum(head.data(), kHeaderWords - 1, x.entries.data(), n) != head[8]) return std::nullopt;
  return x;
}

void save_keyset_index(const std::string &index_path, const KeysetIndex &index) noexcept {
  std::array<uint64_t, kHeaderWords> head = header_of(index);
  head[8] = checksum(head.data(), kHeaderWords - 1, index.entries.data(), index.entries.size());
  const size_t body = index.entries.size() * sizeof(KeysetIndexEntry);
  // An index there is overwritten in place, entries first, then the header
  // naming the new file version: its cached pages are reused (no 32 MB
  // written aside and 32 MB freed per edit at 1M keys), and a write cut
  // short leaves a header that names another version or a checksum that
  // fails, so it is not used.
  int fd = ::open(index_path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  struct stat st{};
  if (fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1) {
    const bool ok = ::lseek(fd, off_t(sizeof head), SEEK_SET) == off_t(sizeof head) &&
                    write_all(fd, index.entries.data(), body) && ::lseek(fd, 0, SEEK_SET) == 0 &&
                    write_all(fd, head.data(), sizeof head) && ::ftruncate(fd, off_t(sizeof head + body)) == 0;
    ::close(fd);
    if (!ok) ::unlink(index_path.c_str());
    return;
  }
  if (fd >= 0) ::close(fd);
  std::string tmp = index_path + ".tmp.XXXXXX";
  fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) {
    ::unlink(index_path.c_str());
    return;
  }
  const bool ok = ::fchmod(fd, 0640) == 0 && write_all(fd, head.data(), sizeof head) &&
                  write_all(fd, index.entries.data(), index.entries.size() * sizeof(KeysetIndexEntry));
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), index_path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    ::unlink(index_path.c_str());
  }
}

}  // namespace edgekey::sync
