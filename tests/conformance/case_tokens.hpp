// case_tokens.hpp -- the token substitutions of the conformance case file
// (README.md here), for every C++ runner: "{token:NAME}", "{badcheck:NAME}"
// (last character changed) and "{truncated:NAME}" (last character dropped)
// become NAME's token as conformance_env minted it.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace edgekey::conformance {

// `text` with every substitution made; std::runtime_error for a name the
// token file lacks or an unknown kind.
inline std::string expand(const std::string &text, const nlohmann::json &tokens) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find('{', at);
    if (open == std::string::npos) break;
    const size_t colon = text.find(':', open), close = text.find('}', open);
    if (colon == std::string::npos || close == std::string::npos || colon > close) break;
    const std::string kind = text.substr(open + 1, colon - open - 1);
    const std::string name = text.substr(colon + 1, close - colon - 1);
    if (!tokens.contains(name)) throw std::runtime_error("no token named \"" + name + "\"");
    std::string t = tokens.at(name).get<std::string>();
    if (kind == "badcheck") t.back() = t.back() == 'A' ? 'B' : 'A';
    else if (kind == "truncated") t.pop_back();
    else if (kind != "token") throw std::runtime_error("unknown substitution {" + kind + ":…}");
    out += text.substr(at, open - at) + t;
    at = close + 1;
  }
  return out + text.substr(at);
}

}  // namespace edgekey::conformance
