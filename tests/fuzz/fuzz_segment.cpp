// libFuzzer target: the reader (ek_open, ek_validate) on a corrupted or
// truncated copy of a real table (every offset bounds-checked: an error, never a crash).
//
// Once per process a table of fuzz_keys() is built with TableWriter, its two
// segments (control, and data generation G) are copied into memory, and the
// table is unlinked. Each input is applied to fresh copies, which are written
// as table "ekfuzz-seg-<pid>" (both segments), opened read-only with ek_open,
// asked about every key under three requests, closed and unlinked.
//
// Input: byte 0 mode, bytes 1-2 a position P (little endian), then a payload.
// Offsets are taken modulo the segment's size (the header, the slots and the
// arena's used part are all below 64 KiB).
//   mode bits 0-1  the segment: 1 = control, otherwise data
//   mode bits 2-3  0 edits:     payload is {u16 offset, u8 byte} triples
//                  1 overwrite: payload copied in at offset P
//                  2 xor:       payload XOR-ed in at offset P
//                  3 truncate:  cut to P/65536 of the size (+1), then edits
//
// Properties, beyond "no crash, no sanitizer report":
// - ek_open gives 0 or one of NO_TABLE, BAD_MAGIC, VERSION, CORRUPT, PEPPER,
//   and ek_strerror() of it is a message naming the table problem.
// - A data segment cut short of its header's segment_size, nothing else
//   changed, is EK_ERR_CORRUPT.
// - Every answer is well formed (a code of the enum, its status, key fields
//   NUL-terminated); when no byte changed, every answer is the model's.
//
// Out of scope: a segment shrunk while a reader has it mapped (SIGBUS). Only
// the writer can do that, and it never resizes a published generation.
#include "fuzz_table.hpp"

#include "shm/src/generation.hpp"
#include "shm/src/layout.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace edgekey;
using namespace edgekey::fuzz;

namespace {

using Bytes = std::vector<uint8_t>;

Bytes read_shm(const std::string &name) {
  const int fd = shm_open(("/" + name).c_str(), O_RDONLY, 0);
  if (fd < 0) fail("fuzz_segment: cannot open the base table's segment", name);
  struct stat st;
  if (fstat(fd, &st) != 0) fail("fuzz_segment: fstat failed", name);
  Bytes b(size_t(st.st_size));
  if (pread(fd, b.data(), b.size(), 0) != ssize_t(b.size())) fail("fuzz_segment: short read", name);
  close(fd);
  return b;
}

void write_shm(const std::string &name, const Bytes &b) {
  const int fd = shm_open(("/" + name).c_str(), O_CREAT | O_RDWR | O_TRUNC, 0600);
  if (fd < 0) fail("fuzz_segment: cannot create a segment in /dev/shm (is it mounted, with room?)", name);
  if (!b.empty() && pwrite(fd, b.data(), b.size(), 0) != ssize_t(b.size()))
    fail("fuzz_segment: short write to /dev/shm (is it full?)", name);
  close(fd);
}

// The base table, kept as bytes; the names the mutated copies are written under.
struct Base {
  Bytes control, data;
  uint64_t segment_size = 0;  // DataHeader::segment_size of `data`
  std::string name = table_name("seg");
  std::string data_name;
  Base() {
    FuzzTable t("seg-base", true);
    control = read_shm(t.name);
    uint64_t g;
    std::memcpy(&g, control.data() + offsetof(shm::ControlHeader, generation), 8);
    data = read_shm(shm::Generation::segment_name(t.name, g));
    std::memcpy(&segment_size, data.data() + offsetof(shm::DataHeader, segment_size), 8);
    data_name = shm::Generation::segment_name(name, g);
  }
};

// The requests each key is asked with: none; an origin, an IP and a
// permission that let key_pub and key_cidr through; the same for the
// arena-heavy key.
constexpr RequestPick kPicks[] = {{}, {2, 0, 2, 1}, {5, 1, 4, 4}};

void apply_edits(Bytes &b, const uint8_t *p, size_t n) {
  if (b.empty()) return;
  for (; n >= 3; p += 3, n -= 3) b[(size_t(p[0]) | size_t(p[1]) << 8) % b.size()] = p[2];
}

bool allowed_open_error(int rc) {
  return rc == EK_ERR_NO_TABLE || rc == EK_ERR_BAD_MAGIC || rc == EK_ERR_VERSION ||
         rc == EK_ERR_CORRUPT || rc == EK_ERR_PEPPER;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size) {
  static const Base base;
  if (size < 3) return 0;
  Bytes control = base.control, data = base.data;
  const uint8_t mode = in[0];
  Bytes &seg = (mode & 3) == 1 ? control : data;
  const size_t pos = size_t(in[1]) | size_t(in[2]) << 8;
  const uint8_t *payload = in + 3;
  const size_t n = size - 3;
  switch (mode >> 2 & 3) {
    case 0: apply_edits(seg, payload, n); break;
    case 1:
    case 2:
      for (size_t i = 0; i < n && !seg.empty(); ++i) {
        uint8_t &b = seg[(pos % seg.size() + i) % seg.size()];
        b = (mode >> 2 & 3) == 1 ? payload[i] : uint8_t(b ^ payload[i]);
      }
      break;
    case 3:
      seg.resize(pos * (seg.size() + 1) >> 16);
      apply_edits(seg, payload, n);
      break;
  }

  write_shm(base.name, control);
  write_shm(base.data_name, data);
  ek_validator *v = nullptr;
  const int rc = ek_open(base.name.c_str(), &v);
  shm_unlink(("/" + base.name).c_str());
  shm_unlink(("/" + base.data_name).c_str());

  const bool unchanged = control == base.control && data == base.data;
  const bool cut_short = control == base.control && data.size() < base.segment_size &&
                         std::memcmp(data.data(), base.data.data(), data.size()) == 0;
  if (rc != 0) {
    if (!allowed_open_error(rc)) fail("ek_open gave an undocumented error", std::to_string(rc));
    if (std::strncmp(ek_strerror(rc), "edgekey: ", 9) != 0) fail("ek_strerror has no message", std::to_string(rc));
    if (unchanged) fail("ek_open refused an intact table", ek_strerror(rc));
    if (cut_short && rc != EK_ERR_CORRUPT) fail("a truncated data segment is not EK_ERR_CORRUPT", ek_strerror(rc));
    return 0;
  }
  if (cut_short) fail("ek_open accepted a truncated data segment");

  std::vector<std::string> tokens;
  for (const FuzzKey &k : fuzz_keys()) tokens.push_back("Bearer " + k.token);
  tokens.push_back("Bearer " + make_token("sk_live", 'z'));  // well formed, not in the table
  for (const std::string &t : tokens) {
    for (const RequestPick &pick : kPicks) {
      const ek_request req = pick.to_request(t.c_str());
      ek_result res;
      if (ek_validate(v, &req, &res) != 0) fail("ek_validate refused valid arguments");
      if (!answer_well_formed(res)) fail("ek_validate answer malformed on a corrupt table", std::to_string(res.code));
      if (!unchanged) continue;
      const FuzzKey *key = find_key(std::string_view(t).substr(7));
      const int want = key ? model_code(*key, pick) : EK_CODE_UNKNOWN_KEY;
      if (res.code != want || (key && !key_fields_match(*key, res)))
        fail("intact table: answer differs from the model",
             std::string("got ") + ek_code_name(res.code) + ", want " + ek_code_name(want));
    }
  }
  ek_close(v);
  return 0;
}
