#include "daemon/http/message.hpp"

namespace edgekey::daemon::http {

namespace {
constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
  for (const auto& [n, v] : headers) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::size_t Request::header_count(std::string_view name) const noexcept {
  std::size_t n = 0;
  for (const auto& h : headers) n += iequals(h.first, name) ? 1 : 0;
  return n;
}

void Response::add_header(std::string_view name, std::string_view value) {
  if (count_ == headers_.size()) headers_.emplace_back();
  Header& h = headers_[count_++];
  h.name.assign(name);
  h.value.assign(value);
}

std::optional<std::string_view> Response::header(std::string_view name) const noexcept {
  for (const Header& h : headers()) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

void Response::reset() noexcept {
  status = 200;
  body.clear();
  count_ = 0;
}

}  // namespace edgekey::daemon::http
