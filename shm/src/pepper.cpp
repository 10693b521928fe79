#include "shm/writer/pepper.hpp"

#include "shm/src/layout.hpp"
#include "shm/writer/hasher.hpp"

#include <openssl/crypto.h>

#include <fstream>
#include <iterator>

namespace edgekey::shm {

bool read_pepper_file(const std::string &path, std::string &out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::string s;
  char buf[512];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    s.append(buf, size_t(f.gcount()));
    if (s.size() > kMaxPepperLen + 2) break;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.size() < kMinPepperLen || s.size() > kMaxPepperLen) {
    OPENSSL_cleanse(s.data(), s.size());
    return false;
  }
  out.swap(s);
  return true;
}

std::string pepper_file_problem(const std::string &path) {
  return "pepper_file " + path + ": unreadable, or not " + std::to_string(kMinPepperLen) + ".." +
         std::to_string(kMaxPepperLen) +
         " bytes: create it with 32 random bytes (e.g. openssl rand -hex 32 > FILE)";
}

void pepper_fingerprint(const std::string &pepper, uint8_t out[32]) {
  TokenHasher(pepper).hash(kPepperCheck, out);
}

}  // namespace edgekey::shm
