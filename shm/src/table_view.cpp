#include "shm/src/table_view.hpp"

#include "shm/src/arena_record.hpp"
#include "shm/writer/hasher.hpp"

#include <edgekey/edgekey.h>

#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EK_PAUSE() _mm_pause()
#else
#define EK_PAUSE() ((void)0)
#endif

namespace edgekey::shm {

namespace {
// Slots from which find_slot streams them (below): 4M slots of 128 bytes,
// 512 MiB, 16 times a 32 MiB L3 (~3.4M keys at load 0.8). Measured at 10M
// keys, one request at a time (bench/results/lookup.md): streaming pays a
// few per cent; at 1M keys (160 MiB of slots) it lost ~3%.
constexpr uint64_t kStreamedSlots = uint64_t(1) << 22;
}  // namespace

int check_control(const void *base, size_t size) {
  if (size < sizeof(ControlHeader)) return EK_ERR_CORRUPT;
  auto *c = static_cast<const ControlHeader *>(base);
  uint64_t magic = c->magic.load(std::memory_order_acquire);
  if (magic == 0) return EK_ERR_NO_TABLE;
  if (magic != kControlMagic) return EK_ERR_BAD_MAGIC;
  if (c->layout_version != kLayoutVersion) return EK_ERR_VERSION;
  if (c->header_size != sizeof(ControlHeader)) return EK_ERR_CORRUPT;
  return 0;
}

int check_data(const void *base, size_t size, DataView &out) {
  out = DataView{};
  if (size < sizeof(DataHeader)) return EK_ERR_CORRUPT;
  auto *h = static_cast<const DataHeader *>(base);
  uint64_t magic = h->magic.load(std::memory_order_acquire);
  if (magic != kDataMagic) return magic == 0 ? EK_ERR_CORRUPT : EK_ERR_BAD_MAGIC;
  if (h->layout_version != kLayoutVersion) return EK_ERR_VERSION;
  if (h->header_size != sizeof(DataHeader) || h->slot_size != kSlotSize) return EK_ERR_CORRUPT;
  if (h->segment_size > size) return EK_ERR_CORRUPT;  // truncated
  const uint64_t cap = h->capacity;
  if (cap < 8 || cap > (uint64_t(1) << 40)) return EK_ERR_CORRUPT;
  if (h->slots_offset % kCacheLine || h->slots_offset < sizeof(DataHeader)) return EK_ERR_CORRUPT;
  if (h->slots_offset > size || cap > (size - h->slots_offset) / kSlotSize) return EK_ERR_CORRUPT;
  const uint64_t slots_end = h->slots_offset + cap * kSlotSize;
  const uint64_t homes_bytes = homes_words(cap) * 8;
  if (h->homes_offset % 8 || h->homes_offset < slots_end || h->homes_offset > size ||
      homes_bytes > size - h->homes_offset)
    return EK_ERR_CORRUPT;
  if (h->arena_offset < h->homes_offset + homes_bytes || h->arena_offset > size ||
      h->arena_size > size - h->arena_offset || h->arena_size > UINT32_MAX)
    return EK_ERR_CORRUPT;
  if (h->n_permissions > kMaxPermissions || h->n_roles > kMaxRoles ||
      h->hash_mode > uint8_t(HashScheme::HmacSha256))
    return EK_ERR_CORRUPT;
  if (memchr(h->key_prefix, 0, sizeof h->key_prefix) == nullptr ||
      memchr(h->pepper_path, 0, sizeof h->pepper_path) == nullptr)
    return EK_ERR_CORRUPT;
  for (size_t i = 0; i < kMaxPermissions; ++i)
    if (memchr(h->permissions[i], 0, kMaxNameLen + 1) == nullptr) return EK_ERR_CORRUPT;
  for (size_t i = 0; i < kMaxRoles; ++i)
    if (memchr(h->roles[i], 0, kMaxNameLen + 1) == nullptr) return EK_ERR_CORRUPT;
  const auto *bytes = static_cast<const uint8_t *>(base);
  out.hdr = h;
  out.slots = reinterpret_cast<const Slot *>(bytes + h->slots_offset);
  out.homes = reinterpret_cast<const std::atomic<uint64_t> *>(bytes + h->homes_offset);
  out.capacity = cap;
  out.arena = bytes + h->arena_offset;
  out.arena_size = h->arena_size;
  return 0;
}

// The first 8 bytes of the hash pick the home slot, so comparing them first
// reveals nothing the probe position does not; the full 32 bytes are then
// compared in constant time. Words go straight into `out` as 8-byte stores
// (no staging copy), so `out` is scratch unless the answer is Hit.
Lookup find_slot(const DataView &d, const uint8_t hash[32], SlotImage &out) {
  const uint64_t h0 = hash_word0(hash);
  uint64_t idx = home_slot(h0, d.capacity);
  auto *img = reinterpret_cast<unsigned char *>(&out);
  auto put = [img](size_t i, uint64_t w) { std::memcpy(img + 8 * i, &w, 8); };
  int budget = kSeqlockRetries;
  if (d.capacity == 0) return Lookup::Miss;
  const uint64_t mask = home_mask(hash);
  // No key whose home shares this key's homes word set all of its bits
  // (layout.hpp: Homes): a miss without a slot access.
  if ((d.homes[homes_word_of(idx)].load(std::memory_order_acquire) & mask) != mask)
    return Lookup::Miss;
  // Slots are fetched only once the homes pass: fetching the home slot
  // before the homes word arrives (as back-to-back requests gain from)
  // costs every miss its page walk, which one request at a time the hits do
  // not repay (bench/results/lookup.md). A table whose slots are many times
  // any cache (kStreamedSlots) is read with non-temporal prefetches: a
  // random slot line is not read again before it would be evicted, and kept
  // out of L2 and L3 it no longer evicts the homes and the page-table
  // entries every lookup needs.
  const bool streamed = d.capacity >= kStreamedSlots;
  // A hit reads its slot's second line too (ids, arena offset), and at load
  // 0.8 about half the keys sit one or two slots past their home: fetch the
  // home slot's second line and the next kPrefetchedNeighbours slots whole
  // along with the first line, rather than one line after another as the
  // probe reaches them (a third slot gains nothing: bench/results/lookup.md).
  // (Past the last slot this prefetches arena bytes instead: a prefetch
  // never faults, and the wrap costs more than the rare wasted fetch.)
  if (streamed) {
    __builtin_prefetch(&d.slots[idx].w[kSlotWords / 2], 0, 0);
    for (uint64_t k = 1; k <= kPrefetchedNeighbours; ++k) {
      __builtin_prefetch(&d.slots[idx + k].w[0], 0, 0);
      __builtin_prefetch(&d.slots[idx + k].w[kSlotWords / 2], 0, 0);
    }
  } else {
    __builtin_prefetch(&d.slots[idx].w[kSlotWords / 2]);
    for (uint64_t k = 1; k <= kPrefetchedNeighbours; ++k) {
      __builtin_prefetch(&d.slots[idx + k].w[0]);
      __builtin_prefetch(&d.slots[idx + k].w[kSlotWords / 2]);
    }
  }
  // The home slot's reach bounds the probe (layout.hpp: Reach).
  uint64_t reach = slot_reach(d.slots[idx].w[0].load(std::memory_order_acquire));
  if (reach == kReachUnbounded) reach = d.capacity;
  for (uint64_t probes = 0; probes < reach; ++probes) {
    const Slot &s = d.slots[idx];
    for (;;) {
      const uint64_t seq = s.w[0].load(std::memory_order_acquire);
      if (seq & 1) {
        if (--budget <= 0) return Lookup::Busy;
        EK_PAUSE();
        continue;
      }
      const uint64_t w1 = s.w[1].load(kSlotDataLoad);
      const uint8_t state = uint8_t(w1);
      if (state == uint8_t(SlotState::Empty)) {
        slot_fence_acquire();
        if (s.w[0].load(std::memory_order_relaxed) == seq) return Lookup::Miss;
        if (--budget <= 0) return Lookup::Busy;
        continue;
      }
      // A mismatch needs no re-check: a key present before and after a write
      // never changes its slot's hash words, and no slot becomes Empty again.
      const uint64_t w2 = s.w[2].load(kSlotDataLoad);
      if (state != uint8_t(SlotState::Live) || w2 != h0) break;
      put(0, seq);
      put(1, w1);
      put(2, w2);
      // The hash words are compared as loaded, in registers (hash_equal's
      // constant-time accumulation), not read back from `out`.
      uint64_t differ = 0;
#pragma GCC unroll 16
      for (size_t i = 3; i < kSlotWords; ++i) {
        const uint64_t w = s.w[i].load(kSlotDataLoad);
        put(i, w);
        if (i < 6) differ = ct_accumulate(differ, w, hash_word(hash, i - 2));
      }
      slot_fence_acquire();
      if (s.w[0].load(std::memory_order_relaxed) != seq) {
        if (--budget <= 0) return Lookup::Busy;
        continue;
      }
      if (differ != 0) break;
      return Lookup::Hit;
    }
    if (++idx == d.capacity) idx = 0;
  }
  return Lookup::Miss;
}

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x | 0x20);
    if (y >= 'A' && y <= 'Z') y = char(y | 0x20);
    if (x != y) return false;
  }
  return true;
}

}  // namespace

bool slot_ids_arena(const DataView &d, const SlotImage &s, std::string_view &key_id,
                    std::string_view &workspace) {
  ArenaRecord a;
  return a.open(d.arena, d.arena_size, s) && a.ids(key_id, workspace);
}

int origin_allowed(const DataView &d, const SlotImage &s, std::string_view origin) {
  ArenaRecord a;
  if (!a.open(d.arena, d.arena_size, s)) return -1;
  return a.origins([&](std::string_view o) { return iequal(origin, o); });
}

int ip_allowed(const DataView &d, const SlotImage &s, const IpAddr &ip) {
  ArenaRecord a;
  if (!a.open(d.arena, d.arena_size, s)) return -1;
  return a.cidrs([&](const Cidr &c) { return cidr_contains(c, ip); });
}

}  // namespace edgekey::shm
