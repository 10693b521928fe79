// keyset_scan.hpp -- the fast reader of the keyset file: the layout
// edgekeyctl writes and the usual hand-written forms of it, a top-level
// `keys:` block list of block maps whose values are one-line scalars (plain,
// '…' or "…") or one-line flow lists of such scalars, with comments and blank
// lines anywhere.
//
// Anything outside that subset (anchors, aliases, tags, multi-line or block
// values, flow maps, tabs, CR line ends, other top-level keys, directives,
// a byte-order mark, …) makes it answer "unsupported": the caller then reads
// the text with the full YAML parser (parse_keyset_yaml does). On what it
// supports it yields exactly what the full parser does: the same values of
// the same kinds, the same lines. No allocation per record beyond the
// fields' text (the caller's vector is reused).
#pragma once

#include "sync/record/record_fields.hpp"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgekey::sync {

// One item of the `keys:` list.
struct ScanItem {
  size_t begin = 0;    // byte offset of the start of its `-` line
  size_t end = 0;      // just after the '\n' of its last field line (or the text's end)
  int line = 0;        // 1-based line of the `-` (and of its first field)
  size_t column = 0;   // column of its first field (the `-` is at KeysetShape::dash_column)
};

// What the text holds around the items.
struct KeysetShape {
  enum class Keys { Null, EmptyFlow, Block } keys = Keys::Null;  // `keys:` / `keys: []` / a block list
  size_t dash_column = 0;  // Block: column of every item's '-'
};

// Walks the items of `text`; on_item(const ScanItem &) is called for each,
// in order, and may stop the walk by returning false. Returns false when the
// text is outside the subset (items already passed were fine: the caller
// starts over with the full parser), true otherwise. Only the structure is
// checked here; an item's fields are read by decode_item().
template <class OnItem>
bool scan_keyset(std::string_view text, KeysetShape &shape, OnItem &&on_item);

// The walk of scan_keyset() over [from, to) of `text` alone: `from` is the
// start of an item's `-` line (numbered `line`) and `to` the text's end or
// the start of a line (which ends the last item). Used to read again only
// the part of a file that changed.
template <class OnItem>
bool scan_items(std::string_view text, size_t from, size_t to, size_t dash_column, int line, OnItem &&on_item);

// Reads the known fields of `item` (of `text`) into `fields`, in document
// order (an unknown field's value is checked for syntax and skipped).
// False = outside the subset.
bool decode_item(std::string_view text, const ScanItem &item, std::vector<RawField> &fields);

// The id and the hash of `item` as decode_item() reads them, without
// reading its other fields' values: false when either is missing, given
// twice, not a one-line text scalar, or a line of the item is not at its
// field column. Enough to index a file (keyset_edit.hpp), not to judge it.
bool item_id_hash(std::string_view text, const ScanItem &item, std::string &id, std::string &hash);

// Where a walk of the whole text starts: the first item (its offset, line
// and dash column), or no items at all (`keys:` empty or null).
struct ItemsHead {
  bool items = false;
  size_t first = 0, dash = 0;
  int line = 1;
};
// False = the head is outside the subset.
bool items_head(std::string_view text, ItemsHead &h);

// The common case of record_from_fields(), quickly: every field at most
// once, each value of the kind its field takes, the hash in lowercase. Fills
// `out` with what record_from_fields would give before validate_record();
// false when the record is not that case (record_from_fields then decides).
bool simple_record(const std::vector<RawField> &fields, KeyRecord &out);

// --- implementation of scan_keyset (a template so the walk inlines its callback)

namespace scan_detail {
// The top-level structure up to the first item: fills `shape`, returns the
// offset of the first item's line (text.size() when none) and its line
// number in *line, or npos when unsupported.
size_t scan_head(std::string_view text, KeysetShape &shape, int *line);
}  // namespace scan_detail

template <class OnItem>
bool scan_items(std::string_view text, size_t from, size_t to, size_t dash_column, int line, OnItem &&on_item) {
  const size_t dash = dash_column;
  const char *p = text.data();
  const size_t n = to;
  size_t pos = from;
  ScanItem cur;
  bool open = false;
  while (pos < n) {
    // One line: [pos, eol).
    const char *nl = static_cast<const char *>(std::char_traits<char>::find(p + pos, n - pos, '\n'));
    const size_t eol = nl ? size_t(nl - p) : n;
    const size_t next = nl ? eol + 1 : n;
    size_t i = pos;
    while (i < eol && p[i] == ' ') ++i;
    const size_t indent = i - pos;
    if (i == eol || p[i] == '#') {  // blank or comment line: belongs to nobody
    } else if (indent == dash && p[i] == '-' && i + 1 < eol && p[i + 1] == ' ') {
      if (open && !on_item(std::as_const(cur))) return true;
      size_t c = i + 1;
      while (c < eol && p[c] == ' ') ++c;
      if (c == eol || p[c] == '#') return false;  // "-" alone: a value on the next lines
      cur = ScanItem{pos, next, line, c - pos};
      open = true;
    } else if (open && indent > dash) {
      cur.end = next;  // a line of the current item (decode_item checks its column)
    } else {
      return false;  // another top-level key, a document marker, a stray line
    }
    pos = next;
    ++line;
  }
  if (open) on_item(std::as_const(cur));
  return true;
}

template <class OnItem>
bool scan_keyset(std::string_view text, KeysetShape &shape, OnItem &&on_item) {
  int line = 1;
  size_t pos = scan_detail::scan_head(text, shape, &line);
  if (pos == std::string_view::npos) return false;
  if (shape.keys != KeysetShape::Keys::Block) return true;
  return scan_items(text, pos, text.size(), shape.dash_column, line, std::forward<OnItem>(on_item));
}

}  // namespace edgekey::sync
