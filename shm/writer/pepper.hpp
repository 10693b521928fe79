// pepper.hpp -- the HMAC pepper: a secret read from a file, never stored in
// the table. The table holds only its fingerprint, HMAC(pepper, kPepperCheck),
// so a reader can tell a wrong pepper file from a right one.
#pragma once

#include <cstdint>
#include <string>

namespace edgekey::shm {

inline constexpr size_t kMinPepperLen = 16;
inline constexpr size_t kMaxPepperLen = 4096;

// Reads the file; trailing newlines are not part of the pepper. False when
// unreadable or outside [kMinPepperLen, kMaxPepperLen] bytes.
bool read_pepper_file(const std::string &path, std::string &out);
// The one-line error for a pepper file read_pepper_file() refused.
std::string pepper_file_problem(const std::string &path);
void pepper_fingerprint(const std::string &pepper, uint8_t out[32]);

}  // namespace edgekey::shm
