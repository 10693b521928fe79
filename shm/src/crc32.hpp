// crc32.hpp -- CRC-32 (IEEE 802.3, the polynomial of zlib's crc32()). The
// token check runs on every validation, including the malformed-token path
// that must stay under ~50 ns. On x86 with PCLMULQDQ (checked at load time)
// inputs of 16 bytes or more are folded by carry-less multiplies, about half
// the latency of slicing-by-8 for a 43-byte token; shorter inputs and other
// CPUs use slicing-by-8 (zlib's crc32() is ~5x slower). Tests compare both
// paths with zlib.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgekey::shm {

uint32_t crc32_ieee(const void *data, size_t len);

// The slicing-by-8 path alone (the reference the fast path is tested against).
uint32_t crc32_ieee_table(const void *data, size_t len);
// True when crc32_ieee() takes the carry-less multiply path for len >= 16.
bool crc32_has_clmul();

}  // namespace edgekey::shm
