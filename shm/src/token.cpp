#include "shm/writer/token.hpp"

#include "shm/src/crc32.hpp"
#include "shm/src/token_format.hpp"

#include <edgekey/edgekey.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace edgekey::shm {
using namespace format;
namespace {

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_visible(char c) { return c > 0x20 && c < 0x7f; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

void token_check(std::string_view text, char out[kCheckLen]) {
  uint64_t crc = crc32_ieee(text.data(), text.size());
  for (size_t i = kCheckLen; i-- > 0;) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
}

bool valid_prefix(std::string_view prefix) {
  if (prefix.size() < 2 || prefix.size() > 16) return false;
  if (prefix[0] < 'a' || prefix[0] > 'z') return false;
  for (char c : prefix)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

ParsedToken parse_authorization(std::string_view auth, std::string_view prefix,
                                bool legacy_allowed) {
  ParsedToken p;
  auth = trim(auth);
  if (auth.empty()) return p;  // Missing
  std::string_view token = auth;
  if (auth.size() > 6 && is_ows(auth[6]) && iequals_bearer(auth.substr(0, 6))) {
    token = trim(auth.substr(6));
  } else if (iequals_bearer(auth)) {
    return p;  // "Bearer" and nothing else: Missing
  }
  // One word must be left. Inner whitespace (another scheme such as
  // "Basic x", or extra words) fails below: our format admits only base62
  // after its fixed parts, a legacy token only visible characters.
  p.kind = TokenKind::Malformed;
  if (token.size() > prefix.size() && token[prefix.size()] == '_' && has_prefix(token, prefix))
    return classify_prefixed(token, prefix.size());
  if (!legacy_allowed || token.size() > kMaxTokenLen) return p;
  for (char c : token)
    if (!is_visible(c)) return p;
  p.kind = TokenKind::Legacy;
  p.token = token;
  return p;
}

std::string generate_token(std::string_view prefix, std::string_view type, std::string_view env) {
  if (!valid_prefix(prefix))
    throw std::runtime_error("key prefix '" + std::string(prefix) +
                             "' is invalid: expected [a-z][a-z0-9]{1,15}");
  if (type != "sk" && type != "pk")
    throw std::runtime_error("key type must be sk or pk, got '" + std::string(type) + "'");
  if (env != "live" && env != "test")
    throw std::runtime_error("key env must be live or test, got '" + std::string(env) + "'");
  std::string t;
  t.reserve(prefix.size() + 1 + 3 + 5 + kBodyLen + kCheckLen);
  t.append(prefix).append("_").append(type).append("_").append(env).append("_");
  unsigned char buf[64];
  size_t have = 0, used = sizeof buf;
  while (have < kBodyLen) {
    if (used == sizeof buf) {
      if (RAND_bytes(buf, sizeof buf) != 1)
        throw std::runtime_error("OpenSSL RAND_bytes failed: cannot generate a key");
      used = 0;
    }
    unsigned char b = buf[used++];
    if (b >= 248) continue;  // 248 = 4 * 62: reject to keep the draw uniform
    t.push_back(kBase62[b % 62]);
    ++have;
  }
  OPENSSL_cleanse(buf, sizeof buf);
  char check[kCheckLen];
  token_check(t, check);
  t.append(check, kCheckLen);
  return t;
}

}  // namespace edgekey::shm
