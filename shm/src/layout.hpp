// layout.hpp -- the bytes of the shared key table, shared by writer and readers.
//
// A table named N is two kinds of POSIX shared-memory segment:
//   /dev/shm/N        the control segment: fixed name, tiny; says which data
//                     generation is current, how fresh it is, who writes it.
//   /dev/shm/N.g<G>   a data segment (one per generation G): header, slots,
//                     homes, arena. Built aside, published by one release store of G
//                     into ControlHeader::generation, then the old one is
//                     unlinked. Readers remap on their next call.
//
// Who writes: exactly one TableWriter (edgekeyd), holding flock(LOCK_EX) on
// the control segment. Readers map both segments PROT_READ and never write.
//
// Every multi-byte value is host order (the table never leaves the host).
#pragma once

#include "shm/writer/limits.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace edgekey::shm {

inline constexpr uint64_t kControlMagic = 0x4c52544359454b45ULL;  // "EKEYCTRL"
inline constexpr uint64_t kDataMagic = 0x41544144594b4545ULL;     // "EEKYDATA"
// Raised whenever the bytes below change meaning: a reader refuses another.
inline constexpr uint32_t kLayoutVersion = 4;

inline constexpr size_t kCacheLine = 64;
inline constexpr size_t kSlotWords = 16;
inline constexpr size_t kSlotSize = kSlotWords * 8;  // two cache lines
inline constexpr size_t kInlineIdBytes = 56;         // key_id + workspace inline in a slot

// Bounded seqlock retries before a reader answers 503 for one key: a writer
// killed inside a record leaves its sequence odd, and a reader must neither
// guess nor spin forever (the restarted writer rewrites the slot).
inline constexpr int kSeqlockRetries = 256;

enum class SlotState : uint8_t { Empty = 0, Live = 1, Tombstone = 2 };

// Slot flag bits.
inline constexpr uint8_t kFlagWrongRegion = 1u << 0;  // record excludes this region
inline constexpr uint8_t kFlagIdsInArena = 1u << 1;   // key_id+workspace > 56 bytes
inline constexpr uint8_t kFlagOrigins = 1u << 2;      // arena holds an origin allow-list
inline constexpr uint8_t kFlagCidrs = 1u << 3;        // arena holds a CIDR allow-list

// Control segment. Line 0 is what every validate call reads; the writer
// stores to it about once a second (contact), so it stays in readers' caches.
// Fields are atomics because readers load them concurrently with the writer.
// `magic` is stored last (release) when the segment is created: a reader that
// sees it may read the rest.
struct alignas(kCacheLine) ControlHeader {
  // -- line 0: hot, read by readers on every call
  std::atomic<uint64_t> magic;
  std::atomic<uint64_t> generation;    // 0 = nothing published yet
  std::atomic<int64_t> last_contact;   // unix s of last confirmed upstream contact
  std::atomic<uint64_t> staleness;     // max seconds (low 32 bits) | policy << 32
  uint32_t layout_version;
  uint32_t header_size;
  uint8_t pad0_[24];
  // -- line 1: writer bookkeeping, read by tools (edgekeyctl status, metrics)
  std::atomic<int64_t> writer_pid;
  std::atomic<int64_t> heartbeat;          // unix s, advanced by the writer's timer
  std::atomic<uint64_t> upstream_revision; // last revision applied (source-defined)
  std::atomic<int64_t> published_at;       // unix s of the current generation's publish
  std::atomic<uint64_t> live_keys;         // counts of the current generation
  std::atomic<uint64_t> revoked_keys;
  std::atomic<uint64_t> tombstones;
  std::atomic<uint64_t> capacity;
};
static_assert(sizeof(ControlHeader) == 2 * kCacheLine);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

inline uint64_t pack_staleness(uint32_t max_s, StalenessPolicy p) {
  return uint64_t(max_s) | (uint64_t(p) << 32);
}

// Data segment header: written by the writer before the generation is
// published and never changed after, except the counters at the end.
struct alignas(kCacheLine) DataHeader {
  std::atomic<uint64_t> magic;  // stored last (release) when the build completes
  uint32_t layout_version;
  uint32_t header_size;
  uint32_t slot_size;
  uint32_t pad0_;
  uint64_t generation;
  uint64_t capacity;       // slots; any value >= 8 (home slot by multiply-shift)
  uint64_t slots_offset;   // bytes from segment start, multiple of 64
  uint64_t homes_offset;   // bytes from segment start: the homes (below)
  uint64_t arena_offset;   // bytes from segment start
  uint64_t arena_size;     // bytes
  uint64_t segment_size;   // bytes; a reader checks fstat() >= this
  // deployment settings the reader needs to validate
  char key_prefix[kMaxPrefixLen + 1];
  uint8_t legacy_tokens;
  uint8_t hash_mode;              // HashScheme
  uint8_t n_permissions;
  uint8_t n_roles;
  uint8_t pad1_[3];
  uint8_t pepper_fingerprint[32]; // HMAC(pepper, kPepperCheck); zero for sha256
  char pepper_path[kMaxPathLen + 1];
  char permissions[kMaxPermissions][kMaxNameLen + 1];
  char roles[kMaxRoles][kMaxNameLen + 1];
  // writer-owned; readers never need them
  std::atomic<uint64_t> arena_used;
};

inline constexpr char kPepperCheck[] = "edgekey pepper check v1";

// A slot as 16 words; word 0 is the seqlock sequence (odd while the writer
// is inside the record) in bits 0..55 and the slot's reach in bits 56..63.
// Writers store words 1..15 with relaxed atomic stores between a relaxed
// store of seq+1 followed by a release fence, and a release store of seq+2. Readers load seq (acquire), copy words relaxed, fence
// (acquire), and re-load seq: equal and even means a whole record.
struct alignas(kCacheLine) Slot {
  std::atomic<uint64_t> w[kSlotWords];
};

// ThreadSanitizer does not model standalone fences (GCC warns -Wtsan), so in
// TSan builds the data words themselves carry acquire/release ordering. On
// x86 both forms compile to plain moves; the fence form is the production one.
#if defined(__SANITIZE_THREAD__)
inline constexpr std::memory_order kSlotDataLoad = std::memory_order_acquire;
inline constexpr std::memory_order kSlotDataStore = std::memory_order_release;
inline void slot_fence_acquire() {}
inline void slot_fence_release() {}
#else
inline constexpr std::memory_order kSlotDataLoad = std::memory_order_relaxed;
inline constexpr std::memory_order kSlotDataStore = std::memory_order_relaxed;
inline void slot_fence_acquire() { std::atomic_thread_fence(std::memory_order_acquire); }
inline void slot_fence_release() { std::atomic_thread_fence(std::memory_order_release); }
#endif
static_assert(sizeof(Slot) == kSlotSize);

// Reach: a property of a slot's position h, not of the record in it. Reach
// r means every key inserted (in this generation) whose home slot is h lies
// within the r slots h, h+1, .., h+r-1 (wrapping), so a lookup from home h
// that has looked at r slots may answer Miss without reaching an Empty slot
// (at load 0.8, linear probing's miss crosses ~13 slots before one; with the
// reach, ~45% of misses stop at their home, the rest within a few slots).
// 0: no key has home h. kReachUnbounded: probe until an Empty slot.
// Written only by the writer, before the record that needs it (an insert at
// distance d from its home first raises the home's reach to d + 1), and
// never lowered within a generation; a reader takes it from its first load
// of the home slot's word 0. A reader that loaded the old reach started
// before the insert finished, so its miss is not a false 401.
inline constexpr unsigned kReachShift = 56;
inline constexpr uint64_t kSeqMask = (uint64_t(1) << kReachShift) - 1;
inline constexpr uint64_t kReachUnbounded = 255;
inline uint64_t slot_reach(uint64_t w0) { return w0 >> kReachShift; }

// Homes: one 8-byte word per 12 slot positions, behind the slots: a blocked
// Bloom filter of the keys by home. Each key inserted with home h sets the
// three bits home_mask(hash) picks (from hash word 1) in word h / 12, just
// before its reach and record, so a word is zero exactly while the reach of
// all its 12 positions is. A reader missing any of its three bits answers
// Miss without touching the slots: the homes (under 1 MiB for 1M keys) stay
// in the caches where the slots do not, and most unknown keys cost no slot
// access (bits and positions per word: bench/results/homes.md).
// Written only by the writer, never cleared within a generation.
inline constexpr uint64_t kHomePositions = 12;  // slot positions per homes word
inline uint64_t homes_word_of(uint64_t home) { return home / kHomePositions; }
inline uint64_t homes_words(uint64_t capacity) {
  return (capacity + kHomePositions - 1) / kHomePositions;
}

// The decoded form of a slot. Words 1..5 (meta + hash) are in the first cache
// line so a probe that does not match touches one line.
struct SlotImage {
  uint64_t seq;  // word 0 as loaded: the sequence and the reach (above)
  // word 1
  uint8_t state;   // SlotState
  uint8_t status;  // KeyStatus
  uint8_t type;    // ek_key_type
  uint8_t env;     // ek_env
  uint8_t role;    // index into DataHeader::roles
  uint8_t flags;   // kFlag*
  uint8_t id_len;  // key_id bytes
  uint8_t ws_len;  // workspace bytes
  // words 2..5
  uint8_t hash[32];
  // word 6
  uint64_t perms;  // effective permission bitmap (role | scopes, capped for pk)
  // word 7
  int64_t expires_at;  // unix s, 0 = never
  // word 8 (second cache line)
  uint32_t arena_off;  // bytes into the arena; meaningful when a kFlag needs it
  uint32_t arena_len;
  // words 9..15: key_id then workspace, unless kFlagIdsInArena
  char ids[kInlineIdBytes];
};
static_assert(sizeof(SlotImage) == kSlotSize);
static_assert(offsetof(SlotImage, hash) == 16 && offsetof(SlotImage, arena_off) == 64);

// Arena record (immutable once its slot is published; append-only until the
// next generation). 8-byte aligned. Layout:
//   u8 id_len, u8 ws_len, u16 n_origins, u16 n_cidrs, u16 reserved
//   [id bytes][ws bytes]                  when kFlagIdsInArena
//   n_origins x { u16 len, bytes }
//   n_cidrs   x { u8 family (4|6), u8 prefix_len, u8 addr[16] }
struct ArenaRecordHead {
  uint8_t id_len, ws_len;
  uint16_t n_origins, n_cidrs, reserved;
};
inline constexpr size_t kCidrBytes = 18;

// Home slot of a hash: Lemire's multiply-shift over the first 8 bytes, so the
// capacity need not be a power of two (10M keys fit in 1.5 GiB).
inline uint64_t hash_word(const uint8_t *hash, size_t i) {
  uint64_t h;
  std::memcpy(&h, hash + 8 * i, 8);
  return h;
}
inline uint64_t hash_word0(const uint8_t *hash) { return hash_word(hash, 0); }
// Homes (above): the three bits of `hash` in its home's homes word (two or
// three when they coincide).
inline uint64_t home_mask(const uint8_t *hash) {
  const uint64_t h1 = hash_word(hash, 1);
  return uint64_t(1) << (h1 & 63) | uint64_t(1) << (h1 >> 6 & 63) | uint64_t(1) << (h1 >> 12 & 63);
}
inline uint64_t home_slot(uint64_t h0, uint64_t capacity) {
  return uint64_t((unsigned __int128)h0 * capacity >> 64);
}

inline void slot_image_to_words(const SlotImage &img, uint64_t (&words)[kSlotWords]) {
  std::memcpy(words, &img, sizeof img);
}
inline void words_to_slot_image(const uint64_t (&words)[kSlotWords], SlotImage &img) {
  std::memcpy(&img, words, sizeof img);
}

// Size of segment parts, rounded up to whole cache lines.
inline uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }
inline uint64_t data_slots_offset() { return round_up(sizeof(DataHeader), kCacheLine); }

}  // namespace edgekey::shm
