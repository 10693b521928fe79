#include "shm/src/arena_record.hpp"

namespace edgekey::shm {

size_t arena_record_bytes(const TableRecord &r) {
  const bool ids_out = ids_in_arena(r);
  if (!ids_out && r.origins.empty() && r.cidrs.empty()) return 0;
  size_t n = sizeof(ArenaRecordHead);
  if (ids_out) n += r.key_id.size() + r.workspace.size();
  for (const auto &o : r.origins) n += 2 + o.size();
  return n + r.cidrs.size() * kCidrBytes;
}

void encode_arena_record(const TableRecord &r, std::vector<uint8_t> &out) {
  if (arena_record_bytes(r) == 0) return;
  const bool ids_out = ids_in_arena(r);
  auto put = [&](const void *p, size_t n) {
    auto *b = static_cast<const uint8_t *>(p);
    out.insert(out.end(), b, b + n);
  };
  const ArenaRecordHead head{uint8_t(r.key_id.size()), uint8_t(r.workspace.size()), uint16_t(r.origins.size()),
                             uint16_t(r.cidrs.size()), 0};
  put(&head, sizeof head);
  if (ids_out) {
    put(r.key_id.data(), r.key_id.size());
    put(r.workspace.data(), r.workspace.size());
  }
  for (const auto &o : r.origins) {
    const uint16_t len = uint16_t(o.size());
    put(&len, 2);
    put(o.data(), o.size());
  }
  for (const auto &c : r.cidrs) {
    put(&c.family, 1);
    put(&c.prefix_len, 1);
    put(c.addr, 16);
  }
}

}  // namespace edgekey::shm
