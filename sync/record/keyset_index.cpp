// keyset_index.cpp -- see keyset_index.hpp.
//
// Layout (native byte order; the index never leaves its host): nine 64-bit
// words -- magic, device, inode, size, mtime_ns, ctime_ns, dash column,
// entry count, checksum -- then the entries, four words each. The checksum
// covers the eight words before it and the entries.
#include "sync/record/keyset_index.hpp"

#include "sync/record/key_record.hpp"

#include <algorithm>
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

namespace {

constexpr uint64_t kNoteMagic = 0x3130544f4e4b5345ull;  // "ESKNOT01" read as a little-endian word
constexpr size_t kNoteWords = 14;                      // magic, 2 stamps of 5, prefix, suffix, checksum

std::array<uint64_t, kNoteWords> note_words(const KeysetSpliceNote &n) {
  std::array<uint64_t, kNoteWords> w{kNoteMagic};
  size_t i = 1;
  for (const FileStamp *st : {&n.before, &n.after})
    for (uint64_t v : {st->dev, st->ino, st->size, uint64_t(st->mtime_ns), uint64_t(st->ctime_ns)}) w[i++] = v;
  w[11] = n.prefix;
  w[12] = n.suffix;
  w[13] = checksum(w.data(), kNoteWords - 1, nullptr, 0);
  return w;
}

bool same_bytes(std::string_view a, size_t at_a, std::string_view b, size_t at_b, size_t n) {
  return std::memcmp(a.data() + at_a, b.data() + at_b, n) == 0;
}

}  // namespace

std::string keyset_note_path(const std::string &keyset_path) { return keyset_path + ".splice"; }

std::optional<KeysetSpliceNote> load_keyset_note(const std::string &note_path) {
  int fd = ::open(note_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::array<uint64_t, kNoteWords + 1> w{};  // one word more: a longer file is not a note
  ssize_t n;
  do n = ::pread(fd, w.data(), sizeof w, 0);
  while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n != ssize_t(kNoteWords * sizeof(uint64_t)) || w[0] != kNoteMagic) return std::nullopt;
  KeysetSpliceNote note;
  note.before = FileStamp{w[1], w[2], w[3], int64_t(w[4]), int64_t(w[5])};
  note.after = FileStamp{w[6], w[7], w[8], int64_t(w[9]), int64_t(w[10])};
  note.prefix = w[11];
  note.suffix = w[12];
  if (note_words(note)[13] != w[13]) return std::nullopt;
  return note;
}

void save_keyset_note(const std::string &note_path, const KeysetSpliceNote &note,
                      const std::string &keyset_path) noexcept {
  const std::array<uint64_t, kNoteWords> w = note_words(note);
  int fd = ::open(note_path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(note_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    struct stat ks{};
    if (fd >= 0 && !keyset_path.empty() && ::stat(keyset_path.c_str(), &ks) == 0) {
      if (::fchown(fd, uid_t(-1), ks.st_gid) != 0) {}  // not permitted: 0640 and this process's group
      ::fchmod(fd, (ks.st_mode & 0444) | 0200);
    }
  }
  struct stat st{};
  bool ok = fd >= 0 && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1;
  ok = ok && ::pwrite(fd, w.data(), sizeof w, 0) == ssize_t(sizeof w) && ::ftruncate(fd, off_t(sizeof w)) == 0;
  if (fd >= 0) ::close(fd);
  if (!ok) ::unlink(note_path.c_str());
}

bool keyset_note_fits(const KeysetSpliceNote &note, std::string_view before, std::string_view after) {
  const size_t p = note.prefix, s = note.suffix;
  if (note.before.size != before.size() || note.after.size != after.size() || p > before.size() ||
      p > after.size() || s > before.size() - p || s > after.size() - p)
    return false;
  constexpr size_t kNear = 64 << 10, kEnds = 4 << 10;
  const size_t near_p = std::min(p, kNear), near_s = std::min(s, kNear);
  const size_t head = std::min(p, kEnds), tail = std::min(s, kEnds);
  return same_bytes(before, p - near_p, after, p - near_p, near_p) &&
         same_bytes(before, before.size() - s, after, after.size() - s, near_s) &&
         same_bytes(before, 0, after, 0, head) &&
         same_bytes(before, before.size() - tail, after, after.size() - tail, tail);
}

}  // namespace edgekey::sync
