// log_scan.hpp -- finding API keys in log lines (issue #5: never a token in
// plaintext in a log).
//
// A token is what shm::parse_authorization accepts as one of ours with a
// verified checksum: {prefix}_{sk|pk}_{live|test}_{32 base62}{6 base62 CRC},
// with any valid deployment prefix (the CRC covers the prefix, so only the
// real one matches). Key ids, hash prefixes and anything with a bad checksum
// are not tokens. Legacy tokens have no shape to recognise: the caller names
// the fixed part ("stem") of each legacy token the tests use.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::logscan {

struct TokenHit {
  size_t pos = 0;  // in the line
  size_t len = 0;
  size_t shown = 0;  // leading characters that are not secret (prefix_type_env_); 0 for a legacy token
};

// Every token in `line`, in order, not overlapping.
std::vector<TokenHit> find_tokens(std::string_view line, const std::vector<std::string> &legacy_stems);

// `line` with each hit's secret part replaced by "<redacted>".
std::string redact(std::string_view line, const std::vector<TokenHit> &hits);

struct Finding {
  std::string file;
  size_t line = 0;  // 1-based
  std::string redacted;
};

struct DirScan {
  size_t files = 0, lines = 0;
  std::vector<std::string> scanned;  // the files read
  std::vector<Finding> findings;
  std::vector<std::string> errors;  // files that could not be read
};

// Reads every regular file under `dir` (recursively, in name order) line by line.
DirScan scan_dir(const std::string &dir, const std::vector<std::string> &legacy_stems);

}  // namespace edgekey::logscan
