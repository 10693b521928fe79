// keyset_scan.cpp -- see keyset_scan.hpp. Every "return false" below is a
// form the full YAML parser reads and this one leaves to it.
#include "sync/record/keyset_scan.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace edgekey::sync {
namespace {

using Kind = RawValue::Kind;

constexpr size_t npos = std::string_view::npos;

// Characters that start something other than a plain scalar, or may.
bool indicator(char c) {
  switch (c) {
    case '[': case ']': case '{': case '}': case ',': case '#': case '&': case '*': case '!':
    case '|': case '>': case '\'': case '"': case '%': case '@': case '`':
      return true;
    default:
      return false;
  }
}

constexpr bool ctl_byte(unsigned char c) { return c < 0x20 || c == 0x7f; }

// The bytes plain() must look at (a control byte, or one that may end or
// break a plain scalar); every other byte just extends it.
constexpr std::array<bool, 256> kPlainSpecial = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = ctl_byte(static_cast<unsigned char>(c));
  for (unsigned char c : std::string_view(" :,[]{}")) t[c] = true;
  return t;
}();

bool null_word(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

bool valid_utf8(std::string_view s) {
  const auto *p = reinterpret_cast<const unsigned char *>(s.data());
  const auto *e = p + s.size();
  while (p < e) {
    unsigned c = *p;
    if (c < 0x80) { ++p; continue; }
    int n;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) n = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0) n = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0) n = 3, cp = c & 0x07;
    else return false;
    if (e - p <= n) return false;
    for (int k = 1; k <= n; ++k) {
      if ((p[k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[k] & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    p += n + 1;
  }
  return true;
}

void append_utf8(std::string &out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xc0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += char(0xe0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  } else {
    out += char(0xf0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3f));
    out += char(0x80 | ((cp >> 6) & 0x3f));
    out += char(0x80 | (cp & 0x3f));
  }
}

// Reads values of one line [p, e). Each reader advances p past what it read.
struct Line {
  const char *p;
  const char *e;

  void skip_spaces() {
    while (p < e && *p == ' ') ++p;
  }
  // After a value: only spaces, then nothing or a comment (after a space).
  bool at_end() {
    const char *s = p;
    skip_spaces();
    return p == e || (*p == '#' && p > s);
  }

  // "…" on this line, with the escapes an emitter writes.
  bool double_quoted(std::string &out) {
    ++p;  // the opening quote
    out.clear();
    for (;;) {
      const char *s = p;
      while (p < e && *p != '"' && *p != '\\' && !ctl_byte(static_cast<unsigned char>(*p))) ++p;
      out.append(s, size_t(p - s));
      if (p == e || ctl_byte(static_cast<unsigned char>(*p))) return false;  // multi-line, tab
      if (*p == '"') {
        ++p;
        return true;
      }
      if (++p == e) return false;  // a backslash at the end of the line: a continuation
      const char c = *p++;
      int hex = 0;
      switch (c) {
        case '\\': out += '\\'; break;
        case '"': out += '"'; break;
        case '/': out += '/'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default: return false;
      }
      if (hex) {
        if (e - p < hex) return false;
        uint32_t cp = 0;
        for (int k = 0; k < hex; ++k, ++p) {
          const char h = *p;
          const int d = h >= '0' && h <= '9' ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                               : -1;
          if (d < 0) return false;
          cp = cp << 4 | uint32_t(d);
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        append_utf8(out, cp);
      }
    }
  }

  // '…' on this line ('' is a quote).
  bool single_quoted(std::string &out) {
    ++p;
    out.clear();
    for (;;) {
      const char *s = p;
      while (p < e && *p != '\'' && !ctl_byte(static_cast<unsigned char>(*p))) ++p;
      out.append(s, size_t(p - s));
      if (p == e || *p != '\'') return false;
      ++p;
      if (p < e && *p == '\'') {
        out += '\'';
        ++p;
        continue;
      }
      return true;
    }
  }

  // A plain scalar; `flow`: inside [ ], where ',' and ']' end it.
  bool plain(std::string_view &out, bool flow) {
    const char *s = p;
    if (p == e || indicator(*p)) return false;
    if ((*p == '-' || *p == '?' || *p == ':') &&
        (p + 1 == e || p[1] == ' ' || (flow && (p[1] == ',' || p[1] == ']'))))
      return false;
    const char *last = p;  // just after the last non-space
    for (; p < e; ++p) {
      const char c = *p;
      if (!kPlainSpecial[static_cast<unsigned char>(c)]) {
        last = p + 1;
        continue;
      }
      if (ctl_byte(static_cast<unsigned char>(c))) return false;
      if (c == ' ') {
        if (p + 1 < e && p[1] == '#') break;  // a comment
        continue;
      }
      if (c == ':') {
        if (p + 1 == e || p[1] == ' ') return false;  // a mapping, or a key without value
        if (flow && (p[1] == ',' || p[1] == ']')) return false;
      }
      if (flow) {
        if (c == ',' || c == ']') break;
        if (c == '[' || c == '{' || c == '}') return false;
      }
      last = p + 1;
    }
    out = std::string_view(s, size_t(last - s));
    return true;
  }

  // One scalar into v (String or Plain or Null); `flow` as for plain().
  bool scalar(RawValue &v, bool flow) {
    if (p < e && *p == '"') {
      v.kind = Kind::String;
      return double_quoted(v.text);
    }
    if (p < e && *p == '\'') {
      v.kind = Kind::String;
      return single_quoted(v.text);
    }
    std::string_view t;
    if (!plain(t, flow)) return false;
    if (null_word(t)) {
      v.kind = Kind::Null;
      v.text.clear();
    } else {
      v.kind = Kind::Plain;
      v.text.assign(t);
    }
    return true;
  }

  // [a, "b", c] on this line.
  bool flow_list(RawValue &v) {
    ++p;
    v.kind = Kind::List;
    v.text.clear();
    size_t used = 0;
    skip_spaces();
    if (p < e && *p == ']') {
      ++p;
      v.items.clear();
      return true;
    }
    for (;;) {
      skip_spaces();
      if (used == v.items.size()) v.items.emplace_back();
      RawValue &item = v.items[used++];
      item.items.clear();
      if (!scalar(item, true)) return false;
      skip_spaces();
      if (p == e) return false;
      if (*p == ']') {
        ++p;
        v.items.resize(used);
        return true;
      }
      if (*p != ',') return false;
      ++p;
    }
  }

  // A field's value (after "key:"): Null when nothing follows on the line.
  bool value(RawValue &v) {
    skip_spaces();
    if (p == e || *p == '#') {
      v.kind = Kind::Null;  // a block value on the next lines is refused by the caller's column check
      v.text.clear();
      v.items.clear();
      return true;
    }
    if (*p == '[') {
      if (!flow_list(v)) return false;
    } else {
      v.items.clear();
      if (!scalar(v, false)) return false;
    }
    return at_end();
  }
};

bool key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

}  // namespace

namespace scan_detail {

size_t scan_head(std::string_view text, KeysetShape &shape, int *line) {
  const char *p = text.data();
  const size_t n = text.size();
  if (n >= 3 && static_cast<unsigned char>(p[0]) == 0xef) return npos;  // a byte-order mark
  size_t pos = 0;
  int ln = 1;
  // Next line that is neither blank nor a comment: [pos, eol), its indent.
  auto next_content = [&](size_t &eol, size_t &indent) {
    while (pos < n) {
      const char *nl = static_cast<const char *>(std::char_traits<char>::find(p + pos, n - pos, '\n'));
      eol = nl ? size_t(nl - p) : n;
      size_t i = pos;
      while (i < eol && p[i] == ' ') ++i;
      if (i < eol && p[i] != '#') {
        indent = i - pos;
        return true;
      }
      pos = nl ? eol + 1 : n;
      ++ln;
    }
    return false;
  };
  size_t eol = 0, indent = 0;
  if (!next_content(eol, indent) || indent != 0) return npos;
  if (text.compare(pos, 5, "keys:") != 0) return npos;
  Line l{p + pos + 5, p + eol};
  if (l.p < l.e && *l.p != ' ') return npos;  // "keys:x"
  l.skip_spaces();
  bool block = false;
  if (l.p == l.e || *l.p == '#') {
    block = true;
  } else if (*l.p == '[') {
    ++l.p;
    l.skip_spaces();
    if (l.p == l.e || *l.p != ']') return npos;
    ++l.p;
    if (!l.at_end()) return npos;
    shape.keys = KeysetShape::Keys::EmptyFlow;
  } else {
    std::string_view t;
    if (!l.plain(t, false) || !null_word(t) || !l.at_end()) return npos;
    shape.keys = KeysetShape::Keys::Null;
  }
  pos = eol < n ? eol + 1 : n;
  ++ln;
  const bool more = next_content(eol, indent);
  if (!block) return more ? npos : n;  // only comments may follow `keys: []`
  if (!more) {
    shape.keys = KeysetShape::Keys::Null;
    return n;
  }
  if (p[pos + indent] != '-' || pos + indent + 1 >= eol || p[pos + indent + 1] != ' ') return npos;
  shape.keys = KeysetShape::Keys::Block;
  shape.dash_column = indent;
  *line = ln;
  return pos;
}

}  // namespace scan_detail

bool items_head(std::string_view text, ItemsHead &h) {
  KeysetShape shape;
  h.first = scan_detail::scan_head(text, shape, &h.line);
  if (h.first == std::string_view::npos) return false;
  h.items = shape.keys == KeysetShape::Keys::Block;
  h.dash = shape.dash_column;
  return true;
}

bool decode_item(std::string_view text, const ScanItem &item, std::vector<RawField> &fields) {
  const char *base = text.data();
  size_t pos = item.begin;
  int line = item.line;
  size_t used = 0;
  bool high = false;  // a byte >= 0x80: the item must be valid UTF-8
  {
    uint64_t any = 0;
    size_t i = item.begin;
    for (; i + 8 <= item.end; i += 8) {
      uint64_t w;
      std::memcpy(&w, base + i, 8);
      any |= w;
    }
    for (; i < item.end; ++i) any |= static_cast<unsigned char>(base[i]);
    high = (any & 0x8080808080808080ull) != 0;
  }
  bool first = true;
  while (pos < item.end) {
    const char *nl = static_cast<const char *>(std::char_traits<char>::find(base + pos, item.end - pos, '\n'));
    const size_t eol = nl ? size_t(nl - base) : item.end;
    size_t i = pos;
    if (first) {
      i = pos + item.column;
    } else {
      while (i < eol && base[i] == ' ') ++i;
      if (i == eol || base[i] == '#') {  // blank or comment
        pos = eol + 1;
        ++line;
        continue;
      }
      if (i - pos != item.column) return false;  // a nested or continued value
    }
    first = false;
    const size_t k0 = i;
    if (i == eol || !(key_char(base[i]) && base[i] != '-' && base[i] != '.')) return false;
    while (i < eol && key_char(base[i])) ++i;
    if (i == eol || base[i] != ':' || (i + 1 < eol && base[i + 1] != ' ')) return false;
    const std::string_view key(base + k0, i - k0);
    Line l{base + i + 1, base + eol};
    if (const size_t index = field_index(key); index != kRecordFieldCount) {
      if (used == fields.size()) fields.emplace_back();
      RawField &f = fields[used++];
      f.name.assign(key);
      f.index = index;
      f.line = line;
      if (!l.value(f.value)) return false;
    } else {
      static thread_local RawValue skipped;
      if (!l.value(skipped)) return false;
    }
    pos = eol + 1;
    ++line;
  }
  fields.resize(used);
  return !high || valid_utf8(text.substr(item.begin, item.end - item.begin));
}

bool item_id_hash(std::string_view text, const ScanItem &item, std::string &id, std::string &hash) {
  const char *base = text.data();
  size_t pos = item.begin;
  bool first = true, have_id = false, have_hash = false;
  static thread_local RawValue v;
  while (pos < item.end) {
    const char *nl = static_cast<const char *>(std::char_traits<char>::find(base + pos, item.end - pos, '\n'));
    const size_t eol = nl ? size_t(nl - base) : item.end;
    size_t i = pos + item.column;
    if (!first) {
      i = pos;
      while (i < eol && base[i] == ' ') ++i;
      if (i == eol || base[i] == '#') {
        pos = eol + 1;
        continue;
      }
      if (i - pos != item.column) return false;
    }
    first = false;
    // Only "id:" and "hash:" are read; any other field's value is left to decode_item.
    const bool is_id = eol - i >= 3 && base[i] == 'i' && base[i + 1] == 'd' && base[i + 2] == ':';
    const bool is_hash = !is_id && eol - i >= 5 && std::memcmp(base + i, "hash:", 5) == 0;
    if (is_id || is_hash) {
      const size_t colon = i + (is_id ? 2 : 4);
      if (colon + 1 < eol && base[colon + 1] != ' ') return false;
      Line l{base + colon + 1, base + eol};
      if (!l.value(v) || !(v.kind == Kind::String || v.kind == Kind::Plain)) return false;
      bool &have = is_id ? have_id : have_hash;
      if (have) return false;
      have = true;
      (is_id ? id : hash) = v.text;
    }
    pos = eol + 1;
  }
  return have_id && have_hash;
}

namespace {

bool text_kind(const RawValue &v) { return v.kind == Kind::String || v.kind == Kind::Plain; }

bool lower_hash(std::string_view h) {
  const size_t colon = h.find(':');
  if (colon == std::string_view::npos || h.size() - colon - 1 != 64) return false;
  const char *x = h.data() + colon + 1;
  bool bad = false;  // no early exit: the 64 checks vectorise
  for (size_t i = 0; i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(x[i]);
    bad |= unsigned(c - '0') > 9 && unsigned(c - 'a') > 5;
  }
  return !bad;
}

// simple_record's readers, one per member type (record_fields.hpp): the
// value of the kind the field takes, else false (record_from_fields decides).
bool simple_value(const RawValue &v, const FieldSpec &s, std::string &out) {
  if (!s.required && v.kind == Kind::Null) return true;
  if (!text_kind(v)) return false;
  out = v.text;
  return true;
}

bool simple_value(const RawValue &v, const FieldSpec &, std::vector<std::string> &out) {
  if (v.kind == Kind::Null) return true;
  if (v.kind != Kind::List) return false;
  out.resize(v.items.size());
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (!text_kind(v.items[i])) return false;
    out[i] = v.items[i].text;
  }
  return true;
}

// Time: RFC 3339 text; Integer: a plain scalar in int64 range.
bool simple_value(const RawValue &v, const FieldSpec &s, std::optional<int64_t> &out) {
  if (v.kind == Kind::Null) return true;
  int64_t n = 0;
  if (s.kind == FieldKind::Time) {
    if (!text_kind(v) || !parse_time(v.text, n)) return false;
  } else {
    if (v.kind != Kind::Plain) return false;
    auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
    if (ec != std::errc() || end != v.text.data() + v.text.size()) return false;
  }
  out = n;
  return true;
}

template <class E>
bool simple_value(const RawValue &v, const FieldSpec &, E &out) {
  return text_kind(v) && parse_choice(v.text, out);
}

}  // namespace

bool simple_record(const std::vector<RawField> &fields, KeyRecord &r) {
  uint32_t seen = 0;
  for (const RawField &f : fields) {
    const size_t k = f.index != SIZE_MAX ? f.index : field_index(f.name);
    if (k == kRecordFieldCount) continue;
    if (seen & (1u << k)) return false;
    seen |= 1u << k;
    bool ok = false;
    visit_field(r, k, [&](const FieldSpec &s, auto &m) { ok = simple_value(f.value, s, m); });
    if (!ok) return false;
  }
  return (seen & kRequiredFields) == kRequiredFields && lower_hash(r.hash);
}

}  // namespace edgekey::sync
