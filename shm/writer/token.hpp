// token.hpp -- the key format: {prefix}_{type}_{env}_{body}{check}.
//
//   prefix  [a-z][a-z0-9]{1,15}, per deployment
//   type    sk | pk          env  live | test
//   body    32 base62 characters from RAND_bytes (190 bits)
//   check   6 base62 characters: CRC32 (zlib) of everything before it
//
// Parsing classifies a raw Authorization value without allocating; a token
// carrying the deployment's prefix and a bad shape or checksum is Malformed
// before any hashing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace edgekey::shm {

inline constexpr size_t kBodyLen = 32;
inline constexpr size_t kCheckLen = 6;
inline constexpr size_t kMaxTokenLen = 512;  // legacy tokens longer than this are malformed

enum class TokenKind : uint8_t {
  Missing,    // no header, empty, or a bare "Bearer"
  Malformed,  // wrong scheme, bad characters, bad shape or checksum
  Prefixed,   // our format, checksum verified
  Legacy,     // another shape, allowed by the config: look up by hash
};

struct ParsedToken {
  TokenKind kind = TokenKind::Missing;
  std::string_view token;  // the bare token within the input (Prefixed/Legacy)
  uint8_t type = 0;        // ek_key_type (Prefixed only)
  uint8_t env = 0;         // ek_env (Prefixed only)
};

// `authorization` is the header value ("Bearer <t>", any scheme case, OWS
// around) or a bare token. `prefix` is the deployment's key prefix.
ParsedToken parse_authorization(std::string_view authorization, std::string_view prefix,
                                bool legacy_allowed);

// The same for a NUL-terminated value: token_format.hpp (inline, for
// ek_validate).

// True if `prefix` is a valid deployment prefix: [a-z][a-z0-9]{1,15}.
bool valid_prefix(std::string_view prefix);

// A new token of the deployment's format. type: "sk"/"pk"; env: "live"/"test".
// Throws std::runtime_error when OpenSSL's RNG fails or arguments are invalid.
std::string generate_token(std::string_view prefix, std::string_view type, std::string_view env);

// The 6-character base62 CRC32 check over `text`.
void token_check(std::string_view text, char out[kCheckLen]);

}  // namespace edgekey::shm
