#include "shm/src/generation.hpp"

#include "shm/src/huge_pages.hpp"
#include "shm/src/table_view.hpp"
#include "shm/writer/pepper.hpp"

#include <edgekey/edgekey.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace edgekey::shm {

namespace {

[[noreturn]] void fail(const std::string &path, const std::string &what) {
  throw TableError("segment " + path + ": " + what);
}

void copy_name(char *dst, size_t cap, const std::string &s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(s.size(), cap - 1));
}

}  // namespace

std::string Generation::segment_name(const std::string &table, uint64_t gen) {
  return table + ".g" + std::to_string(gen);
}

void Generation::map_parts() {
  auto *base = static_cast<uint8_t *>(seg_.region.get_address());
  hdr_ = reinterpret_cast<DataHeader *>(base);
  slots_ = reinterpret_cast<Slot *>(base + hdr_->slots_offset);
  homes_ = reinterpret_cast<std::atomic<uint64_t> *>(base + hdr_->homes_offset);
  arena_ = base + hdr_->arena_offset;
  capacity_ = hdr_->capacity;
  arena_size_ = hdr_->arena_size;
  arena_used_ = hdr_->arena_used.load(std::memory_order_relaxed);
}

Generation::Plan Generation::plan(const SegmentDir &dir, uint64_t capacity, uint64_t arena_size, bool huge) {
  constexpr uint64_t kMaxArena = uint64_t(UINT32_MAX) / kCacheLine * kCacheLine;
  Plan p;
  p.capacity = std::max<uint64_t>(capacity, 8);
  p.arena_size = std::min(round_up(std::max<uint64_t>(arena_size, 4096), kCacheLine), kMaxArena);
  const uint64_t homes_off = data_slots_offset() + p.capacity * kSlotSize;
  p.arena_offset = homes_off + round_up(homes_words(p.capacity) * 8, kCacheLine);
  p.segment_size = p.arena_offset + p.arena_size;
  if (huge) {
    const uint64_t page = dir.kind == DirKind::Hugetlbfs ? dir.page_size : kHugePageSize;
    p.segment_size = round_up(p.segment_size, page);
    p.arena_size = std::min(p.segment_size - p.arena_offset, kMaxArena);  // arena_offset is a multiple of 64
  }
  return p;
}

std::unique_ptr<Generation> Generation::create(const SegmentDir &dir, const std::string &table, uint64_t gen,
                                               uint64_t capacity, uint64_t arena_size,
                                               const SegmentAccess &access,
                                               const TableOptions &opts, bool huge) {
  const Plan plan = Generation::plan(dir, capacity, arena_size, huge);
  capacity = plan.capacity;
  arena_size = plan.arena_size;
  const uint64_t slots_off = data_slots_offset();
  const uint64_t homes_off = slots_off + capacity * kSlotSize;
  const uint64_t arena_off = plan.arena_offset;
  const uint64_t total = plan.segment_size;
  const uint64_t page = dir.kind == DirKind::Hugetlbfs ? dir.page_size : kHugePageSize;

  std::unique_ptr<Generation> g(new Generation);
  g->dir_ = dir;
  g->table_ = table;
  g->gen_ = gen;
  const std::string name = segment_name(table, gen);
  remove_segment(dir, name);  // an unpublished leftover of a killed writer
  g->seg_ = RwSegment::create(dir, name, total, access);

  void *base = g->seg_.region.get_address();
  if (huge) {
    // Before the header's first store: a page gets its size when first faulted.
    advise_huge_pages(base, total);
    const int err = populate_write(base, round_up(arena_off, page));
    if (err != 0 && err != EINVAL)
      fail(dir.path(name), std::string("cannot allocate its ") + std::to_string(arena_off >> 20) +
                               " MiB of slots (" + std::strerror(err) + "): make room in " +
                               dir.listing() + " or memory");
  }
  auto *h = static_cast<DataHeader *>(base);
  h->layout_version = kLayoutVersion;
  h->header_size = sizeof(DataHeader);
  h->slot_size = kSlotSize;
  h->generation = gen;
  h->capacity = capacity;
  h->slots_offset = slots_off;
  h->homes_offset = homes_off;
  h->arena_offset = arena_off;
  h->arena_size = arena_size;
  h->segment_size = total;
  copy_name(h->key_prefix, sizeof h->key_prefix, opts.key_prefix);
  h->legacy_tokens = opts.legacy_tokens;
  h->n_permissions = uint8_t(opts.permissions.size());
  h->n_roles = uint8_t(opts.roles.size());
  for (size_t i = 0; i < opts.permissions.size() && i < kMaxPermissions; ++i)
    copy_name(h->permissions[i], kMaxNameLen + 1, opts.permissions[i]);
  for (size_t i = 0; i < opts.roles.size() && i < kMaxRoles; ++i)
    copy_name(h->roles[i], kMaxNameLen + 1, opts.roles[i]);
  copy_name(h->pepper_path, sizeof h->pepper_path, opts.pepper_path);
  if (!opts.pepper_path.empty()) {
    std::string pepper;
    if (!read_pepper_file(opts.pepper_path, pepper))
      throw TableError(pepper_file_problem(opts.pepper_path));
    h->hash_mode = uint8_t(HashScheme::HmacSha256);
    pepper_fingerprint(pepper, h->pepper_fingerprint);
  } else {
    h->hash_mode = uint8_t(HashScheme::Sha256);
  }
  // Offset 0 of the arena is never a record: arena_off 0 means "none".
  h->arena_used.store(8, std::memory_order_relaxed);
  g->map_parts();
  return g;
}

std::unique_ptr<Generation> Generation::attach(const SegmentDir &dir, const std::string &table,
                                               uint64_t gen, bool huge) {
  std::unique_ptr<Generation> g(new Generation);
  g->dir_ = dir;
  g->table_ = table;
  g->gen_ = gen;
  const std::string name = segment_name(table, gen);
  g->seg_ = RwSegment::open(dir, name);
  if (huge) advise_huge_pages(g->seg_.region.get_address(), g->seg_.region.get_size());
  DataView dv;
  int rc = check_data(g->seg_.region.get_address(), g->seg_.region.get_size(), dv);
  if (rc != 0) fail(dir.path(name), std::string("unusable: ") + ek_strerror(rc));
  if (dv.hdr->generation != gen) fail(dir.path(name), "header names another generation");
  g->map_parts();
  if (g->arena_used_ < 8 || g->arena_used_ > g->arena_size_)
    fail(dir.path(name), "arena bookkeeping is corrupt");
  return g;
}

Generation::Probe Generation::find(const uint8_t hash[32]) const {
  Probe p;
  uint64_t idx = home_slot(hash_word0(hash), capacity_);
  uint64_t first_free = npos;
  for (uint64_t n = 0; n < capacity_; ++n) {
    const Slot &s = slots_[idx];
    const auto state = SlotState(uint8_t(s.w[1].load(std::memory_order_relaxed)));
    if (state == SlotState::Empty) {
      p.slot = first_free != npos ? first_free : idx;
      return p;
    }
    if (state == SlotState::Tombstone) {
      if (first_free == npos) first_free = idx;
    } else if (s.w[2].load(std::memory_order_relaxed) == hash_word0(hash)) {
      // The first word picks the home slot, so comparing it first reveals
      // nothing; the whole hash goes through OpenSSL's constant-time compare.
      uint64_t h[4];
      for (int i = 0; i < 4; ++i) h[i] = s.w[2 + i].load(std::memory_order_relaxed);
      if (CRYPTO_memcmp(h, hash, 32) == 0) {
        p.slot = idx;
        p.found = true;
        return p;
      }
    }
    if (++idx == capacity_) idx = 0;
  }
  p.slot = first_free;
  return p;
}

void Generation::cover(uint64_t slot, const uint8_t hash[32]) {
  const uint64_t home = home_slot(hash_word0(hash), capacity_);
  const uint64_t dist = slot >= home ? slot - home : slot + capacity_ - home;
  const uint64_t need = dist + 1 < kReachUnbounded ? dist + 1 : kReachUnbounded;
  std::atomic<uint64_t> &w0 = slots_[home].w[0];
  // The key's homes bits first, then the reach (release each: a reader that
  // sees the record these precede sees them too).
  std::atomic<uint64_t> &bits = homes_[homes_word_of(home)];
  const uint64_t mask = home_mask(hash);
  const uint64_t have = bits.load(std::memory_order_relaxed);  // only this writer stores
  if ((have & mask) != mask) bits.store(have | mask, std::memory_order_release);
  const uint64_t cur = w0.load(std::memory_order_relaxed);
  if (slot_reach(cur) >= need) return;
  w0.store((cur & kSeqMask) | need << kReachShift, std::memory_order_release);
}

SlotImage Generation::read(uint64_t slot) const {
  uint64_t words[kSlotWords];
  for (size_t i = 0; i < kSlotWords; ++i) words[i] = slots_[slot].w[i].load(std::memory_order_relaxed);
  SlotImage img;
  words_to_slot_image(words, img);
  return img;
}

// The seqlock write (layout.hpp): the sequence made odd, then the data
// words, then the sequence made even again with a release store, so a
// reader that sees the even sequence sees every word before it. A slot a
// killed writer left odd stays odd until rewritten: `| 1` makes its next
// sequence odd, and `+ 1` even. Without `close`, it stops after
// `data_words` data words and leaves the sequence odd (the crash failpoint).
void Generation::store_words(uint64_t slot, const SlotImage &img, size_t data_words, bool close) {
  uint64_t words[kSlotWords];
  slot_image_to_words(img, words);
  Slot &s = slots_[slot];
  const uint64_t seq = s.w[0].load(std::memory_order_relaxed) | 1;
  s.w[0].store(seq, std::memory_order_relaxed);
  slot_fence_release();
  for (size_t i = 1; i <= data_words && i < kSlotWords; ++i) s.w[i].store(words[i], kSlotDataStore);
  if (close) s.w[0].store(seq + 1, std::memory_order_release);
}

uint32_t Generation::arena_append(const uint8_t *p, size_t n) {
  const uint64_t off = arena_used_;
  std::memcpy(arena_ + off, p, n);
  arena_used_ += round_up(n, 8);
  hdr_->arena_used.store(arena_used_, std::memory_order_relaxed);
  return uint32_t(off);
}

void Generation::seal() { hdr_->magic.store(kDataMagic, std::memory_order_release); }

void Generation::unlink() { remove_segment(dir_, segment_name(table_, gen_)); }

uint64_t Generation::huge_mapped() const {
  return huge_mapped_bytes(seg_.region.get_address(), seg_.region.get_size());
}

uint64_t Generation::recount() {
  live = revoked = tombstones = 0;
  uint64_t torn = 0;
  for (uint64_t i = 0; i < capacity_; ++i) {
    if (slots_[i].w[0].load(std::memory_order_relaxed) & 1) ++torn;
    const SlotImage img = read(i);
    if (img.state == uint8_t(SlotState::Tombstone)) ++tombstones;
    else if (img.state == uint8_t(SlotState::Live))
      (img.status == uint8_t(KeyStatus::Revoked) ? revoked : live) += 1;
  }
  return torn;
}

}  // namespace edgekey::shm
