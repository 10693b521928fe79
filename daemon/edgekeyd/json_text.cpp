#include "daemon/edgekeyd/json_text.hpp"

#include "sync/record/key_record.hpp"

namespace edgekey::daemon {

void append_json_string(std::string &out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      out.append("\\u00");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

void append_json_time(std::string &out, int64_t t) {
  if (t == 0) {
    out.append("null");
    return;
  }
  out.push_back('"');
  out.append(sync::format_time(t));
  out.push_back('"');
}

}  // namespace edgekey::daemon
