#include "shm/src/token.hpp"

#include <edgekey/edgekey.h>
#include <openssl/rand.h>
#include <zlib.h>

#include <cstring>
#include <stdexcept>

namespace edgekey::shm {
namespace {

constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

constexpr bool is_ows(char c) { return c == ' ' || c == '\t'; }
constexpr bool is_visible(char c) { return c > 0x20 && c < 0x7f; }
constexpr bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals_bearer(std::string_view s) {
  static constexpr char kB[] = "bearer";
  if (s.size() != 6) return false;
  for (size_t i = 0; i < 6; ++i)
    if ((s[i] | 0x20) != kB[i]) return false;
  return true;
}

// Our format after "{prefix}_": "sk_live_" + body + check, strictly.
ParsedToken classify_prefixed(std::string_view token, size_t prefix_len) {
  ParsedToken p;
  p.kind = TokenKind::Malformed;
  std::string_view rest = token.substr(prefix_len + 1);
  if (rest.size() < 3 || rest[2] != '_') return p;
  if (rest[0] == 's' && rest[1] == 'k') p.type = EK_TYPE_SECRET;
  else if (rest[0] == 'p' && rest[1] == 'k') p.type = EK_TYPE_PUBLISHABLE;
  else return p;
  rest.remove_prefix(3);
  if (rest.size() != 4 + 1 + kBodyLen + kCheckLen || rest[4] != '_') return p;
  if (rest.compare(0, 4, "live") == 0) p.env = EK_ENV_LIVE;
  else if (rest.compare(0, 4, "test") == 0) p.env = EK_ENV_TEST;
  else return p;
  rest.remove_prefix(5);
  for (char c : rest)
    if (!is_base62(c)) return p;
  char check[kCheckLen];
  token_check(token.substr(0, token.size() - kCheckLen), check);
  if (std::memcmp(check, token.data() + token.size() - kCheckLen, kCheckLen) != 0) return p;
  p.kind = TokenKind::Prefixed;
  p.token = token;
  return p;
}

}  // namespace

void token_check(std::string_view text, char out[kCheckLen]) {
  uint64_t crc = crc32(0L, reinterpret_cast<const Bytef *>(text.data()), uInt(text.size()));
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
  size_t sp = 0;
  while (sp < auth.size() && !is_ows(auth[sp])) ++sp;
  if (sp < auth.size()) {
    if (!iequals_bearer(auth.substr(0, sp))) {
      p.kind = TokenKind::Malformed;
      return p;
    }
    token = trim(auth.substr(sp));
  } else if (iequals_bearer(auth)) {
    return p;  // "Bearer" and nothing else: Missing
  }
  p.kind = TokenKind::Malformed;
  if (token.size() > kMaxTokenLen) return p;
  for (char c : token)
    if (!is_visible(c)) return p;
  if (token.size() > prefix.size() && token[prefix.size()] == '_' &&
      token.compare(0, prefix.size(), prefix) == 0)
    return classify_prefixed(token, prefix.size());
  if (!legacy_allowed) return p;
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
