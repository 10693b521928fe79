// libFuzzer target: the raw Authorization header, through the token parser
// and the whole validate path of libedgekey.
//
// Input: the header value, optionally followed by a NUL and two option bytes
//   o0: bit 0 legacy_tokens table, bits 1-3 permission, bits 4-5 env
//   o1: bits 0-2 origin, bits 3-5 client IP      (indexes into kRequestValues)
// so a seed is readable text ("Bearer ek_sk_live_…") and the fuzzer can still
// vary the request.
//
// Properties, beyond "no crash, no sanitizer report":
// - parse_authorization() agrees with reference_parse() below (a slow, plain
//   reading of docs/design.md "Keys") on the kind, the token, its type and env,
//   for any bytes and two prefixes; a token it returns lies inside the input.
// - ek_validate() answers a code of the enum with its status; MISSING and
//   MALFORMED exactly when the parser says so; a well-formed token that is
//   not in the table is unknown_key; a token of the table gets the answer
//   model_code() gives and its key's fields.
// - The C++ wrapper (Validator::validate) answers as the C call does, and a
//   header too long for its buffer is malformed_token.
#include "fuzz_table.hpp"

#include "shm/writer/token.hpp"

#include <edgekey/validator.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using namespace edgekey;
using namespace edgekey::fuzz;
using shm::ParsedToken;
using shm::TokenKind;

namespace {

bool ows(char c) { return c == ' ' || c == '\t'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c | 0x20) : c; }
bool base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && ows(s.back())) s.remove_suffix(1);
  return s;
}

bool is_bearer(std::string_view s) {
  if (s.size() != 6) return false;
  for (size_t i = 0; i < 6; ++i)
    if (lower(s[i]) != "bearer"[i]) return false;
  return true;
}

// docs/design.md "Keys", read literally: "Bearer" (any case) and OWS, or a bare
// token; ours is {prefix}_{sk|pk}_{live|test}_{32 base62}{6 base62 = CRC32};
// any other single word of visible ASCII (<= 512 bytes) is a legacy token
// when allowed.
ParsedToken reference_parse(std::string_view auth, std::string_view prefix, bool legacy) {
  ParsedToken p;
  auth = trim(auth);
  if (auth.empty()) return p;
  std::string_view tok = auth;
  if (auth.size() > 6 && ows(auth[6]) && is_bearer(auth.substr(0, 6))) tok = trim(auth.substr(6));
  else if (is_bearer(auth)) return p;
  p.kind = TokenKind::Malformed;
  if (tok.size() > prefix.size() && tok.substr(0, prefix.size()) == prefix && tok[prefix.size()] == '_') {
    std::string_view rest = tok.substr(prefix.size() + 1);
    if (rest.size() != 8 + shm::kBodyLen + shm::kCheckLen) return p;
    const std::string_view te = rest.substr(0, 8);
    uint8_t type = 0, env = 0;
    if (te == "sk_live_") type = EK_TYPE_SECRET, env = EK_ENV_LIVE;
    else if (te == "sk_test_") type = EK_TYPE_SECRET, env = EK_ENV_TEST;
    else if (te == "pk_live_") type = EK_TYPE_PUBLISHABLE, env = EK_ENV_LIVE;
    else if (te == "pk_test_") type = EK_TYPE_PUBLISHABLE, env = EK_ENV_TEST;
    else return p;
    for (char c : rest.substr(8))
      if (!base62(c)) return p;
    char check[shm::kCheckLen];
    shm::token_check(tok.substr(0, tok.size() - shm::kCheckLen), check);
    if (tok.substr(tok.size() - shm::kCheckLen) != std::string_view(check, shm::kCheckLen)) return p;
    p = {TokenKind::Prefixed, tok, type, env};
    return p;
  }
  if (!legacy || tok.size() > shm::kMaxTokenLen) return p;
  for (char c : tok)
    if (c <= 0x20 || c >= 0x7f) return p;
  p.kind = TokenKind::Legacy;
  p.token = tok;
  return p;
}

const char *kind_name(TokenKind k) {
  switch (k) {
    case TokenKind::Missing: return "Missing";
    case TokenKind::Malformed: return "Malformed";
    case TokenKind::Prefixed: return "Prefixed";
    case TokenKind::Legacy: return "Legacy";
  }
  return "?";
}

void check_parser(std::string_view input, std::string_view prefix, bool legacy) {
  const ParsedToken got = shm::parse_authorization(input, prefix, legacy);
  const ParsedToken want = reference_parse(input, prefix, legacy);
  if (got.kind != want.kind)
    fail("parse_authorization kind differs from the reference",
         std::string("got ") + kind_name(got.kind) + ", want " + kind_name(want.kind));
  if (got.kind == TokenKind::Prefixed || got.kind == TokenKind::Legacy) {
    if (got.token.data() != want.token.data() || got.token.size() != want.token.size())
      fail("parse_authorization token is not the reference's");
    if (got.token.data() < input.data() || got.token.data() + got.token.size() > input.data() + input.size())
      fail("parse_authorization token points outside its input");
  }
  if (got.kind == TokenKind::Prefixed && (got.type != want.type || got.env != want.env))
    fail("parse_authorization type/env differ from the reference");
}

// One table per legacy_tokens setting, each opened through the C API and
// through the C++ wrapper; the segments are unlinked once open.
struct Validators {
  struct Pair {
    ek_validator *c = nullptr;
    Validator cpp;
  } strict, legacy;
  Validators() {
    for (bool l : {false, true}) {
      FuzzTable t(l ? "token-legacy" : "token-strict", l);
      Pair &p = l ? legacy : strict;
      if (int rc = ek_open(t.name.c_str(), &p.c); rc != 0) fail("fuzz table: ek_open failed", ek_strerror(rc));
      p.cpp = Validator::open(t.name.c_str());
      if (!p.cpp) fail("fuzz table: Validator::open failed", Validator::error_text(p.cpp.error()));
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static Validators validators;
  const std::string_view input(reinterpret_cast<const char *>(data), size);

  for (bool legacy : {false, true}) {
    check_parser(input, "ek", legacy);
    check_parser(input, "acme9", legacy);
  }

  const size_t nul = input.find('\0');
  const std::string header(input.substr(0, nul));
  uint8_t o0 = 0, o1 = 0;
  if (nul != std::string_view::npos) {
    if (nul + 1 < size) o0 = data[nul + 1];
    if (nul + 2 < size) o1 = data[nul + 2];
  }
  const bool legacy = o0 & 1;
  RequestPick pick;
  pick.permission = uint8_t(o0 >> 1 & 7);
  pick.env = uint8_t(o0 >> 4 & 3);
  pick.origin = uint8_t(o1 & 7);
  pick.ip = uint8_t(o1 >> 3 & 7);
  Validators::Pair &v = legacy ? validators.legacy : validators.strict;

  const ek_request req = pick.to_request(header.c_str());
  ek_result res;
  if (ek_validate(v.c, &req, &res) != 0) fail("ek_validate refused valid arguments");
  if (!answer_well_formed(res)) fail("ek_validate answer malformed", std::to_string(res.code));

  const ParsedToken tok = shm::parse_authorization(header, "ek", legacy);
  int want = EK_CODE_MISSING_TOKEN;
  const FuzzKey *key = nullptr;
  if (tok.kind == TokenKind::Malformed) want = EK_CODE_MALFORMED_TOKEN;
  if (tok.kind == TokenKind::Prefixed || tok.kind == TokenKind::Legacy) {
    key = find_key(tok.token);
    want = key ? model_code(*key, pick) : EK_CODE_UNKNOWN_KEY;
  }
  if (res.code != want)
    fail("ek_validate answer differs from the model",
         std::string("got ") + ek_code_name(res.code) + ", want " + ek_code_name(want) +
             (key ? " for " + key->rec.key_id : std::string()));
  if (key && !key_fields_match(*key, res)) fail("ek_validate key fields differ", key->rec.key_id);
  if (!key && (res.key_id[0] || res.workspace[0] || res.role[0]))
    fail("ek_validate filled key fields without a key");

  // The wrapper is given every byte; C sees them up to the first NUL, and a
  // value too long for the wrapper's buffer is malformed.
  Request cpp_req{req.permission, req.client_ip, req.origin, req.env};
  const Result r = v.cpp.validate(input, cpp_req);
  const int cpp_want = size >= 1024 ? int(EK_CODE_MALFORMED_TOKEN) : res.code;
  if (r.code != cpp_want || !answer_well_formed(r))
    fail("Validator::validate differs from ek_validate",
         std::string("got ") + r.code_name() + ", want " + ek_code_name(cpp_want));
  return 0;
}
