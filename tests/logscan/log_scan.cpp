// log_scan.cpp -- see log_scan.hpp.
#include "log_scan.hpp"

#include "shm/writer/token.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

namespace edgekey::logscan {
namespace {

constexpr std::array<std::string_view, 4> kTypeEnv = {"sk_live_", "sk_test_", "pk_live_", "pk_test_"};
constexpr size_t kTail = 8 + shm::kBodyLen + shm::kCheckLen;  // "sk_live_" body check
constexpr size_t kMaxPrefix = 16;

bool prefix_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// A checksum-valid token whose "_{type}_{env}_" starts at `sep` (line[sep]
// == '_'): its prefix is a suffix of the [a-z0-9] run before `sep`; the
// longest one that parses wins.
bool token_at(std::string_view line, size_t sep, TokenHit &hit) {
  if (sep + 1 + kTail > line.size()) return false;
  const std::string_view type_env = line.substr(sep + 1, 8);
  if (std::find(kTypeEnv.begin(), kTypeEnv.end(), type_env) == kTypeEnv.end()) return false;
  size_t run = sep;
  while (run > 0 && sep - run < kMaxPrefix && prefix_char(line[run - 1])) --run;
  for (size_t start = run; start + 2 <= sep; ++start) {
    const std::string_view prefix = line.substr(start, sep - start);
    if (!shm::valid_prefix(prefix)) continue;
    const std::string_view candidate = line.substr(start, prefix.size() + 1 + kTail);
    if (shm::parse_authorization(candidate, prefix, false).kind == shm::TokenKind::Prefixed) {
      hit = {start, candidate.size(), prefix.size() + 1 + 8};
      return true;
    }
  }
  return false;
}

bool visible(char c) { return c > 0x20 && c < 0x7f; }

}  // namespace

std::vector<TokenHit> find_tokens(std::string_view line, const std::vector<std::string> &legacy_stems) {
  std::vector<TokenHit> hits;
  for (size_t sep = line.find('_'); sep != std::string_view::npos; sep = line.find('_', sep + 1)) {
    TokenHit h;
    if (token_at(line, sep, h)) {
      hits.push_back(h);
      sep = h.pos + h.len - 1;
    }
  }
  // A legacy token: its stem and the visible characters after it.
  for (const auto &stem : legacy_stems) {
    if (stem.empty()) continue;
    for (size_t at = line.find(stem); at != std::string_view::npos; at = line.find(stem, at + 1)) {
      size_t end = at + stem.size();
      while (end < line.size() && visible(line[end]) && line[end] != '"' && line[end] != '\'') ++end;
      hits.push_back({at, end - at, 0});
      at = end - 1;
    }
  }
  std::sort(hits.begin(), hits.end(), [](const TokenHit &a, const TokenHit &b) { return a.pos < b.pos; });
  // A stem may lie inside a prefixed token's span or the other way round: keep the first.
  std::vector<TokenHit> out;
  for (const auto &h : hits)
    if (out.empty() || h.pos >= out.back().pos + out.back().len) out.push_back(h);
  return out;
}

std::string redact(std::string_view line, const std::vector<TokenHit> &hits) {
  std::string out;
  size_t at = 0;
  for (const auto &h : hits) {
    out.append(line.substr(at, h.pos + h.shown - at));
    out.append("<redacted>");
    at = h.pos + h.len;
  }
  out.append(line.substr(std::min(at, line.size())));
  return out;
}

DirScan scan_dir(const std::string &dir, const std::vector<std::string> &legacy_stems) {
  namespace fs = std::filesystem;
  DirScan scan;
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path());
  if (ec) scan.errors.push_back(dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto &path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      scan.errors.push_back(path.string() + ": cannot open");
      continue;
    }
    ++scan.files;
    scan.scanned.push_back(path.string());
    size_t n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      const auto hits = find_tokens(line, legacy_stems);
      if (!hits.empty()) scan.findings.push_back({path.string(), n, redact(line, hits)});
    }
    if (in.bad()) scan.errors.push_back(path.string() + ": read error");
    scan.lines += n;
  }
  return scan;
}

}  // namespace edgekey::logscan
