// key_store.cpp -- see key_store.hpp.
#include "sync/upstream/key_store.hpp"

#include <cstring>
#include <functional>

namespace edgekey::sync {

namespace {

constexpr size_t kMinBuckets = 16;

size_t buckets_for(size_t keys) {  // at most half full
  size_t b = kMinBuckets;
  while (b < 2 * keys) b *= 2;
  return b;
}

}  // namespace

uint32_t KeyStore::id_tag(std::string_view id) {
  const uint64_t h = std::hash<std::string_view>{}(id);
  return uint32_t(h ^ (h >> 32));
}

// A token hash is uniformly distributed: its first bytes are a good hash.
uint32_t KeyStore::hash_tag(const TokenHash &h) {
  uint32_t v;
  std::memcpy(&v, h.data(), sizeof v);
  return v;
}

template <class Eq>
uint32_t KeyStore::find(const Index &ix, uint32_t tag, Eq eq) {
  if (ix.buckets.empty()) return npos;
  const size_t mask = ix.mask();
  for (size_t i = tag & mask;; i = (i + 1) & mask) {
    const Bucket &b = ix.buckets[i];
    if (b.slot == npos) return npos;
    if (b.tag == tag && eq(b.slot)) return b.slot;
  }
}

void KeyStore::put(Index &ix, uint32_t tag, uint32_t slot) {
  const size_t mask = ix.mask();
  size_t i = tag & mask;
  while (ix.buckets[i].slot != npos) i = (i + 1) & mask;
  ix.buckets[i] = Bucket{slot, tag};
  ++ix.count;
}

template <class Eq>
void KeyStore::remove(Index &ix, uint32_t tag, Eq eq) {
  if (ix.buckets.empty()) return;
  const size_t mask = ix.mask();
  size_t i = tag & mask;
  for (;; i = (i + 1) & mask) {
    const Bucket &b = ix.buckets[i];
    if (b.slot == npos) return;  // absent
    if (b.tag == tag && eq(b.slot)) break;
  }
  // Backward shift: pull later members of the probe run into the hole unless
  // their home bucket lies cyclically within (hole, their position].
  for (size_t j = i;;) {
    j = (j + 1) & mask;
    const Bucket &b = ix.buckets[j];
    if (b.slot == npos) break;
    const size_t home = b.tag & mask;
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      ix.buckets[i] = b;
      i = j;
    }
  }
  ix.buckets[i] = Bucket{};
  --ix.count;
}

uint32_t KeyStore::find_id(std::string_view id) const {
  return find(by_id_, id_tag(id), [&](uint32_t s) { return records_[s].id == id; });
}

uint32_t KeyStore::find_hash(const TokenHash &h) const {
  return find(by_hash_, hash_tag(h), [&](uint32_t s) { return hashes_[s] == h; });
}

uint32_t KeyStore::find_hash_head(uint64_t head) const {
  TokenHash prefix{};
  std::memcpy(prefix.data(), &head, sizeof head);
  return find(by_hash_, hash_tag(prefix), [&](uint32_t s) { return std::memcmp(hashes_[s].data(), &head, sizeof head) == 0; });
}

void KeyStore::rehash(size_t buckets) {
  for (Index *ix : {&by_id_, &by_hash_}) {
    std::vector<Bucket> old = std::move(ix->buckets);
    ix->buckets.assign(buckets, Bucket{});
    ix->count = 0;
    for (const Bucket &b : old)
      if (b.slot != npos) put(*ix, b.tag, b.slot);
  }
}

void KeyStore::reserve(size_t n) {
  records_.reserve(n);
  hashes_.reserve(n);
  if (2 * n > by_id_.buckets.size()) rehash(buckets_for(n));
}

void KeyStore::grow_if_needed(size_t more) {
  const size_t want = live_ + more;
  if (2 * want > by_id_.buckets.size()) rehash(buckets_for(want));
}

uint32_t KeyStore::insert(KeyRecord r, const TokenHash &h) {
  grow_if_needed(1);
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    records_[slot] = std::move(r);
    hashes_[slot] = h;
  } else {
    slot = uint32_t(records_.size());
    records_.push_back(std::move(r));
    hashes_.push_back(h);
  }
  put(by_id_, id_tag(records_[slot].id), slot);
  put(by_hash_, hash_tag(h), slot);
  ++live_;
  return slot;
}

uint32_t KeyStore::upsert(KeyRecord r, const TokenHash &h, std::optional<TokenHash> *replaced_hash) {
  displace(r.id, h, replaced_hash, nullptr);
  return insert(std::move(r), h);
}

void KeyStore::displace(std::string_view id, const TokenHash &h, std::optional<TokenHash> *replaced_hash,
                        std::vector<uint32_t> *dropped) {
  for (const uint32_t old : {find_id(id), find_hash(h)}) {
    if (old == npos || !live(old)) continue;  // absent, or both lookups found the one erased
    if (replaced_hash && hashes_[old] != h) *replaced_hash = hashes_[old];
    if (dropped) dropped->push_back(old);
    erase(old);
  }
}

void KeyStore::erase(uint32_t slot) {
  if (!live(slot)) return;
  const std::string &id = records_[slot].id;
  remove(by_id_, id_tag(id), [&](uint32_t s) { return s == slot; });
  remove(by_hash_, hash_tag(hashes_[slot]), [&](uint32_t s) { return s == slot; });
  records_[slot] = KeyRecord{};  // an empty id marks the slot free
  free_.push_back(slot);
  --live_;
}

void KeyStore::clear() { *this = KeyStore{}; }

void KeyStore::release(std::vector<KeyRecord> &records, std::vector<TokenHash> &hashes) {
  records = std::move(records_);
  hashes = std::move(hashes_);
  clear();
}

KeyStore KeyStore::build(std::vector<KeyRecord> records, std::vector<TokenHash> hashes,
                         std::vector<uint32_t> *dropped) {
  KeyStore s;
  s.records_ = std::move(records);
  s.hashes_ = std::move(hashes);
  s.hashes_.resize(s.records_.size());
  const size_t buckets = buckets_for(s.records_.size());
  s.by_id_.buckets.assign(buckets, Bucket{});
  s.by_hash_.buckets.assign(buckets, Bucket{});
  for (uint32_t i = 0; i < s.records_.size(); ++i) {
    if (s.records_[i].id.empty()) {  // not a record: a free slot from the start
      s.free_.push_back(i);
      continue;
    }
    s.displace(s.records_[i].id, s.hashes_[i], nullptr, dropped);  // in order, as upserts
    const uint32_t tag = id_tag(s.records_[i].id);
    put(s.by_id_, tag, i);
    put(s.by_hash_, hash_tag(s.hashes_[i]), i);
    ++s.live_;
  }
  return s;
}

}  // namespace edgekey::sync
