// yaml_reader.hpp -- strict typed reads from a yaml-cpp tree (internal to
// daemon/config). Every read either returns a checked value or throws a
// one-line ConfigError "FILE:LINE: PATH: what" pointing at the offending node.
#pragma once

#include "daemon/config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::daemon::detail {

// 1-based line of a node; `fallback` when the node carries no mark.
int line_of(const YAML::Node &n, int fallback = 1);

// `text` with quotes, backslashes and control characters escaped and cut
// after 60 bytes ("..."), for messages; quoted() adds double quotes.
std::string escaped(std::string_view text);
std::string quoted(std::string_view text);

// A mapping whose keys were checked against a schema.
class MapView {
 public:
  struct Entry {
    std::string key;
    YAML::Node value;
    int key_line;
  };
  // Null when the key is absent.
  const Entry *find(std::string_view key) const;
  const std::vector<Entry> &entries() const { return entries_; }
  int line() const { return line_; }
  const std::string &path() const { return path_; }
  // "table.name" for path "table" and key "name".
  std::string child(std::string_view key) const;

 private:
  friend class Reader;
  std::vector<Entry> entries_;
  int line_ = 1;
  std::string path_;
};

class Reader {
 public:
  Reader(std::string file, std::string base_dir) : file_(std::move(file)), base_(std::move(base_dir)) {}

  [[noreturn]] void fail(int line, std::string_view path, std::string_view what) const;
  [[noreturn]] void fail(const YAML::Node &at, std::string_view path, std::string_view what) const {
    fail(line(at), path, what);
  }
  // "expected <expected>, got <what the node is>".
  [[noreturn]] void expected(const YAML::Node &at, std::string_view path, std::string_view expected) const;

  // A mapping whose keys are unique scalars from `allowed` (a null node is an
  // empty mapping). `path` is "" for the top level.
  MapView map(const YAML::Node &n, const std::string &path,
              std::initializer_list<std::string_view> allowed) const;
  // A mapping with free-form keys (unique scalars), e.g. roles.
  MapView open_map(const YAML::Node &n, const std::string &path) const;

  // A scalar's text; `what` names the expectation for the message.
  std::string scalar(const YAML::Node &n, std::string_view path, std::string_view what) const;
  std::string nonempty(const YAML::Node &n, std::string_view path, std::string_view what) const;
  bool boolean(const YAML::Node &n, std::string_view path) const;
  uint64_t uint(const YAML::Node &n, std::string_view path, uint64_t min, uint64_t max) const;
  int64_t integer(const YAML::Node &n, std::string_view path, int64_t min, int64_t max) const;
  std::chrono::milliseconds duration(const YAML::Node &n, std::string_view path,
                                     std::chrono::milliseconds min,
                                     std::chrono::milliseconds max) const;
  unsigned mode(const YAML::Node &n, std::string_view path) const;
  // One of `choices`; the message lists them.
  std::string one_of(const YAML::Node &n, std::string_view path,
                     std::initializer_list<std::string_view> choices) const;
  // A file system path, resolved against base_dir when relative; at most `max_len` bytes.
  std::string file_path(const YAML::Node &n, std::string_view path, size_t max_len = 4095) const;
  // A sequence of scalars, each with its node (for per-item messages).
  std::vector<std::pair<std::string, YAML::Node>> scalar_list(const YAML::Node &n,
                                                              std::string_view path,
                                                              std::string_view item_what) const;

  // The one YAML document in `text` (a null node when there is none).
  // Malformed YAML and multi-document streams are ConfigErrors. Never loops:
  // yaml-cpp 0.7's LoadAll spins forever on some inputs (e.g. ","; upstream
  // issue #1040), so documents are counted with a bounded event pass first.
  YAML::Node parse(std::string_view text) const;

  const std::string &file() const { return file_; }

  // 1-based line of `n`. A null value ("key:" with nothing after it) is
  // reported on its key's line: yaml-cpp marks it where the next token starts.
  int line(const YAML::Node &n) const;

 private:
  std::string file_;
  std::string base_;
  // Null values seen by open_map(), with their key lines.
  mutable std::vector<std::pair<YAML::Node, int>> null_values_;
};

// Paths for messages: "a.b" and "a[3]".
std::string join(std::string_view path, std::string_view key);
std::string index(std::string_view path, size_t i);

}  // namespace edgekey::daemon::detail
