// yaml_reader.cpp -- strict typed reads from a yaml-cpp tree (see yaml_reader.hpp).
#include "daemon/config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

namespace edgekey::daemon::detail {

namespace {

constexpr size_t kQuoteMax = 60;  // longest value echoed in a message

// What a node is, for "got …".
std::string got(const YAML::Node &n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar: return quoted(n.Scalar());
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    default: return "nothing";
  }
}

std::string list_words(std::initializer_list<std::string_view> words, std::string_view last_sep) {
  std::string out;
  size_t i = 0;
  for (std::string_view w : words) {
    if (i > 0) out += (i + 1 == words.size()) ? last_sep : std::string_view(", ");
    out += w;
    ++i;
  }
  return out;
}

template <typename T>
bool parse_whole(std::string_view s, T &out) {
  if (s.empty()) return false;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// Counts documents and records where each starts; ignores their content.
class DocumentCounter : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark &mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark &, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark &, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark &, const std::string &, YAML::anchor_t, const std::string &) override {}
  void OnSequenceStart(const YAML::Mark &, const std::string &, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark &, const std::string &, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

int mark_line(const YAML::Mark &m) { return m.is_null() || m.line < 0 ? 1 : m.line + 1; }

}  // namespace

int line_of(const YAML::Node &n, int fallback) {
  try {
    const YAML::Mark m = n.Mark();
    if (m.is_null() || m.line < 0) return fallback;
    return m.line + 1;
  } catch (const YAML::Exception &) {
    return fallback;
  }
}

std::string escaped(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t n = std::min(text.size(), kQuoteMax);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += char(c);
    }
  }
  if (text.size() > kQuoteMax) out += "...";
  return out;
}

// Appends rather than "\"" + s: GCC 12 in Release warns falsely (-Wrestrict) on the latter.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  out.append(escaped(text)).push_back('"');
  return out;
}

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out += key;
  return out;
}

std::string index(std::string_view path, size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

YAML::Node Reader::parse(std::string_view text) const {
  const std::string input(text);
  try {
    {
      std::istringstream in(input);
      YAML::Parser parser(in);
      DocumentCounter counter;
      // Two documents suffice to tell "one" from "several"; a third pass
      // shows whether the parser is stuck on a token it cannot consume.
      while (counter.starts.size() < 3 && parser.HandleNextDocument(counter)) {
        const size_t n = counter.starts.size();
        if (n >= 2 && counter.starts[n - 1].pos == counter.starts[n - 2].pos)
          fail(mark_line(counter.starts[n - 1]), "", "not valid YAML: unexpected token");
      }
      if (counter.starts.size() > 1)
        fail(mark_line(counter.starts[1]), "", "expected one YAML document, found several");
    }
    return YAML::Load(input);
  } catch (const YAML::Exception &e) {
    fail(mark_line(e.mark), "", "not valid YAML: " + e.msg);
  }
}

const MapView::Entry *MapView::find(std::string_view key) const {
  for (const Entry &e : entries_)
    if (e.key == key) return &e;
  return nullptr;
}

std::string MapView::child(std::string_view key) const { return join(path_, key); }

int Reader::line(const YAML::Node &n) const {
  if (n.IsNull())
    for (const auto &[node, key_line] : null_values_)
      if (node.is(n)) return key_line;
  return line_of(n);
}

void Reader::fail(int line, std::string_view path, std::string_view what) const {
  std::string msg = file_ + ":" + std::to_string(line) + ": ";
  if (!path.empty()) {
    msg += path;
    msg += ": ";
  }
  msg += what;
  // The contract is one line, whatever the input carried.
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  std::replace(msg.begin(), msg.end(), '\r', ' ');
  throw ConfigError(msg);
}

void Reader::expected(const YAML::Node &at, std::string_view path, std::string_view what) const {
  fail(at, path, "expected " + std::string(what) + ", got " + got(at));
}

MapView Reader::open_map(const YAML::Node &n, const std::string &path) const {
  MapView v;
  v.path_ = path;
  v.line_ = line(n);
  if (n.IsNull()) return v;
  if (!n.IsMap()) expected(n, path, "a mapping");
  for (auto it = n.begin(); it != n.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) expected(key, path, "a key name");
    const int key_line = line_of(key, v.line_);
    if (const MapView::Entry *prev = v.find(key.Scalar()))
      fail(key_line, join(path, escaped(key.Scalar())),
           "duplicate key (first at line " + std::to_string(prev->key_line) + ")");
    if (it->second.IsNull()) null_values_.emplace_back(it->second, key_line);
    v.entries_.push_back({key.Scalar(), it->second, key_line});
  }
  return v;
}

MapView Reader::map(const YAML::Node &n, const std::string &path,
                    std::initializer_list<std::string_view> allowed) const {
  MapView v = open_map(n, path);
  for (const MapView::Entry &e : v.entries_) {
    if (std::find(allowed.begin(), allowed.end(), e.key) != allowed.end()) continue;
    std::string what = "unknown key; valid keys";
    if (!path.empty()) what += " under " + path;
    what += ": " + list_words(allowed, ", ");
    fail(e.key_line, join(path, escaped(e.key)), what);
  }
  return v;
}

std::string Reader::scalar(const YAML::Node &n, std::string_view path, std::string_view what) const {
  if (!n.IsScalar()) expected(n, path, what);
  return n.Scalar();
}

std::string Reader::nonempty(const YAML::Node &n, std::string_view path, std::string_view what) const {
  std::string s = scalar(n, path, what);
  if (s.empty()) expected(n, path, what);
  return s;
}

bool Reader::boolean(const YAML::Node &n, std::string_view path) const {
  const std::string s = scalar(n, path, "true or false");
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  expected(n, path, "true or false");
}

// uint() and integer(): a whole number of T in [min, max]; the message names the range.
template <typename T>
static T whole_in_range(const Reader &r, const YAML::Node &n, std::string_view path, T min, T max) {
  const std::string what = "an integer in " + std::to_string(min) + ".." + std::to_string(max);
  const std::string s = r.scalar(n, path, what);
  T v = 0;
  if (!parse_whole(s, v) || v < min || v > max) r.expected(n, path, what);
  return v;
}

uint64_t Reader::uint(const YAML::Node &n, std::string_view path, uint64_t min, uint64_t max) const {
  return whole_in_range(*this, n, path, min, max);
}

int64_t Reader::integer(const YAML::Node &n, std::string_view path, int64_t min, int64_t max) const {
  return whole_in_range(*this, n, path, min, max);
}

std::chrono::milliseconds Reader::duration(const YAML::Node &n, std::string_view path,
                                           std::chrono::milliseconds min,
                                           std::chrono::milliseconds max) const {
  static constexpr std::string_view kSyntax = "a duration such as 60s, 5m, 24h, 90d or 500ms";
  const std::string s = scalar(n, path, kSyntax);
  const auto d = parse_duration(s);
  if (!d) expected(n, path, kSyntax);
  if (*d < min || *d > max)
    expected(n, path, "a duration from " + format_duration(min) + " to " + format_duration(max));
  return *d;
}

unsigned Reader::mode(const YAML::Node &n, std::string_view path) const {
  static constexpr std::string_view kWhat = "an octal file mode such as \"0640\"";
  const std::string s = scalar(n, path, kWhat);
  const bool ok = s.size() == 4 && s[0] == '0' &&
                  std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '7'; });
  if (!ok) expected(n, path, kWhat);
  return unsigned(std::stoul(s, nullptr, 8));
}

std::string Reader::one_of(const YAML::Node &n, std::string_view path,
                           std::initializer_list<std::string_view> choices) const {
  const std::string what = list_words(choices, " or ");
  const std::string s = scalar(n, path, what);
  if (std::find(choices.begin(), choices.end(), s) == choices.end()) expected(n, path, what);
  return s;
}

std::string Reader::file_path(const YAML::Node &n, std::string_view path, size_t max_len) const {
  static constexpr std::string_view kWhat = "a file path";
  std::string s = nonempty(n, path, kWhat);
  if (std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    expected(n, path, "a file path without control characters");
  if (s[0] != '/' && !base_.empty()) s = base_ + "/" + s;
  if (s.size() > max_len)
    fail(n, path, "expected a path of at most " + std::to_string(max_len) + " bytes, got " +
                      std::to_string(s.size()) + " bytes");
  return s;
}

std::vector<std::pair<std::string, YAML::Node>> Reader::scalar_list(const YAML::Node &n,
                                                                    std::string_view path,
                                                                    std::string_view item_what) const {
  if (!n.IsSequence()) expected(n, path, "a list of " + std::string(item_what) + "s");
  std::vector<std::pair<std::string, YAML::Node>> out;
  size_t i = 0;
  for (auto it = n.begin(); it != n.end(); ++it, ++i) {
    const YAML::Node item = *it;
    out.emplace_back(scalar(item, index(path, i), "a " + std::string(item_what)), item);
  }
  return out;
}

}  // namespace edgekey::daemon::detail
