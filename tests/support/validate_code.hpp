// validate_code.hpp -- what the library answers for a token, as a test
// checks it: ek_validate's code name through the public C API.
#pragma once

#include <edgekey/edgekey.h>

#include <string>

namespace edgekey::test {

// The code name ek_validate gives `token` (no permission, IP or Origin);
// "error" when the call itself fails.
inline std::string validate_code(ek_validator *v, const std::string &token) {
  ek_request q{};
  q.authorization = token.c_str();
  ek_result r{};
  if (ek_validate(v, &q, &r) != 0) return "error";
  return ek_code_name(r.code);
}

}  // namespace edgekey::test
