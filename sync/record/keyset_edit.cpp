// keyset_edit.cpp -- see keyset_edit.hpp.
#include "sync/record/keyset_edit.hpp"

#include "sync/record/atomic_file.hpp"
#include "sync/record/side_task.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <optional>

namespace edgekey::sync {
namespace {

constexpr size_t npos = std::string_view::npos;

bool by_id_key(const KeysetIndexEntry &a, const KeysetIndexEntry &b) {
  return a.id_key != b.id_key ? a.id_key < b.id_key : a.begin < b.begin;
}

template <class Key>
bool has_repeats(const std::vector<KeysetIndexEntry> &entries, Key key) {
  std::vector<uint64_t> v;
  v.reserve(entries.size());
  for (const auto &e : entries) v.push_back(key(e));
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) != v.end();
}

}  // namespace

bool KeysetEditor::read(std::string_view text, std::string_view source) {
  text_ = text;
  source_ = source;
  entries_.clear();
  rejected_.clear();
  bool spliceable = true;
  KeysetVisitor v;
  v.restart = [&] { spliceable = false; };
  v.record = [&](KeyRecord &&r, int, const ScanItem *item) {
    if (!item || !spliceable) {
      spliceable = false;
      return;
    }
    entries_.push_back({keyset_id_key(r.id), keyset_hash_head(r.hash), item->begin, item->end});
  };
  v.reject = [&](KeysetRejection &&rj) { rejected_.push_back(std::move(rj)); };
  const std::string error = stream_keyset(text, source, v);
  if (!error.empty() || !spliceable || entries_.empty()) return false;
  if (has_repeats(entries_, [](const KeysetIndexEntry &e) { return e.hash_head; }) ||
      has_repeats(entries_, [](const KeysetIndexEntry &e) { return e.id_key; }))
    return false;  // let the full reader judge
  size_t i = entries_[0].begin;
  while (text[i] == ' ') ++i;
  dash_column_ = i - entries_[0].begin;
  std::sort(entries_.begin(), entries_.end(), by_id_key);
  return true;
}

bool KeysetEditor::scan(std::string_view text, std::string_view source) {
  text_ = text;
  source_ = source;
  entries_.clear();
  rejected_.clear();
  ItemsHead h;
  if (!items_head(text, h) || !h.items) return false;
  const size_t first = h.first, dash = h.dash;
  // Two halves split at an item's `-` line near the middle: in the subset,
  // every line with the dash at dash_column starts an item, so the halves'
  // items are the whole text's.
  size_t mid = text.size();
  if (text.size() - first >= (8u << 20)) {
    const std::string start = "\n" + std::string(dash, ' ') + "- ";
    const size_t at = text.find(start, first + (text.size() - first) / 2);
    if (at != npos) mid = at + 1;
  }
  auto part = [&](size_t from, size_t to, std::vector<KeysetIndexEntry> &out) {
    std::string id, hash;
    bool ok = true;
    out.reserve((to - from) / 128);
    const bool supported = scan_items(text, from, to, dash, 0, [&](const ScanItem &it) {
      uint64_t head = 0;
      if (!item_id_hash(text, it, id, hash) || (head = keyset_hash_head(hash)) == 0) return ok = false;
      out.push_back({keyset_id_key(id), head, it.begin, it.end});
      return true;
    });
    return supported && ok;
  };
  std::vector<KeysetIndexEntry> second;
  bool second_ok = true;
  bool ok;
  {
    std::optional<SideTask> other;  // a second half only for a text large enough to split
    if (mid < text.size()) other.emplace([&] { second_ok = part(mid, text.size(), second); });
    ok = part(first, mid, entries_);
    if (other) other->wait();
  }
  ok = ok && second_ok && !entries_.empty();
  if (ok) {
    entries_.insert(entries_.end(), second.begin(), second.end());
    second = {};
    // The ids sorted here, the hashes beside: no two alike on 64 bits.
    bool hashes_repeat = false;
    std::vector<KeysetIndexEntry> sorted;
    {
      SideTask other([&] { hashes_repeat = has_repeats(entries_, [](const KeysetIndexEntry &e) { return e.hash_head; }); });
      sorted = entries_;
      std::sort(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) { return by_id_key(a, b); });
      other.wait();
    }
    const bool ids_repeat = std::adjacent_find(sorted.begin(), sorted.end(), [](const auto &a, const auto &b) {
                              return a.id_key == b.id_key;
                            }) != sorted.end();
    entries_ = std::move(sorted);
    ok = !hashes_repeat && !ids_repeat;
  }
  if (!ok) {
    entries_.clear();
    return false;
  }
  dash_column_ = dash;
  return true;
}

bool KeysetEditor::adopt(std::string_view text, KeysetIndex index, std::string_view source) {
  text_ = text;
  source_ = source;
  rejected_.clear();
  dash_column_ = size_t(index.dash_column);
  entries_ = std::move(index.entries);
  for (const auto &e : entries_)
    if (e.begin >= e.end || e.end > text.size()) {
      entries_.clear();
      return false;
    }
  return !entries_.empty();
}

KeysetIndex KeysetEditor::index(const FileStamp &stamp) const { return KeysetIndex{stamp, dash_column_, entries_}; }

ScanItem KeysetEditor::item_of(const KeysetIndexEntry &e) const {
  ScanItem item{size_t(e.begin), size_t(e.end), 0, 0};
  size_t c = item.begin;
  while (c < item.end && text_[c] == ' ') ++c;
  if (c - item.begin != dash_column_ || c >= item.end || text_[c] != '-') return item;
  ++c;
  while (c < item.end && text_[c] == ' ') ++c;
  item.column = c - item.begin;
  return item;
}

std::optional<KeyRecord> KeysetEditor::decode(const KeysetIndexEntry &e) const {
  ScanItem item = item_of(e);
  if (item.column == 0) return std::nullopt;
  std::vector<RawField> fields;
  if (!decode_item(text_, item, fields)) return std::nullopt;
  FieldsOutcome o = record_from_fields(fields, item.line);
  if (!o.record) return std::nullopt;
  KeyRecord r = std::move(*o.record);
  return r;
}

bool KeysetEditor::id_hash_of(const KeysetIndexEntry &e, std::string &id, std::string &hash) const {
  const ScanItem item = item_of(e);
  return item.column != 0 && item_id_hash(text_, item, id, hash);
}

size_t KeysetEditor::index_of(std::string_view id) const {
  const KeysetIndexEntry probe{keyset_id_key(id), 0, 0, 0};
  std::string its_id, its_hash;
  for (auto it = std::lower_bound(entries_.begin(), entries_.end(), probe, by_id_key);
       it != entries_.end() && it->id_key == probe.id_key; ++it)
    if (id_hash_of(*it, its_id, its_hash) && its_id == id) return size_t(it - entries_.begin());
  return npos;
}

std::optional<KeyRecord> KeysetEditor::find(std::string_view id) const {
  const size_t i = index_of(id);
  if (i == npos) return std::nullopt;
  if (std::optional<KeyRecord> r = decode(entries_[i])) return r;
  // The record with this id does not load: said with its line, as edgekeyd says it.
  const KeysetIndexEntry &e = entries_[i];
  const int line = 1 + int(std::count(text_.begin(), text_.begin() + std::ptrdiff_t(e.begin), '\n'));
  ScanItem item = item_of(e);
  item.line = line;
  std::vector<RawField> fields;
  std::string reason = "key " + std::string(id) + ": not in a form edgekeyctl edits in place";
  int at = line;
  if (item.column != 0 && decode_item(text_, item, fields)) {
    FieldsOutcome o = record_from_fields(fields, line);
    reason = format_record_error(o.id, o.error);
    if (o.error.line > 0) at = o.error.line;
  }
  throw KeysetError(source_ + ":" + std::to_string(at) + ": " + reason + "; fix or remove that record first");
}

std::optional<std::string> KeysetEditor::hash_owner(const std::string &hash, std::string_view id) const {
  const uint64_t head = keyset_hash_head(hash);
  std::array<uint8_t, 32> want{}, its{};
  if (!parse_record_hash(hash, want)) return std::nullopt;
  std::string its_id, its_hash;
  for (const auto &e : entries_) {
    if (e.hash_head != head || !id_hash_of(e, its_id, its_hash)) continue;
    if (parse_record_hash(its_hash, its) && its == want && its_id != id) return its_id;
  }
  return std::nullopt;
}

std::string emit_keyset_item(const KeyRecord &r, size_t dash_column) {
  const std::string doc = emit_keyset_yaml({r});  // "keys:\n  - id: …\n    …\n"
  std::string out;
  out.reserve(doc.size() + 16 * dash_column);
  const std::string pad(dash_column, ' ');
  for (size_t pos = doc.find('\n') + 1; pos < doc.size();) {
    size_t nl = doc.find('\n', pos);
    if (nl == std::string::npos) nl = doc.size() - 1;
    out += pad;
    out.append(doc, pos + 2, nl + 1 - (pos + 2));  // the emitter's two spaces of indent replaced
    pos = nl + 1;
  }
  return out;
}

KeysetIndex KeysetEditor::write(const std::string &path, const std::vector<KeyRecord> &puts, int src_fd,
                                const FileStamp *before) const {
  // The new text: ranges of the old one between replaced items, then appends.
  struct Piece {
    size_t begin = 0, end = 0;  // of text_, when `own` is empty
    std::string own;
  };
  struct Replaced {
    size_t entry;  // into entries_
    const KeyRecord *put;
  };
  std::vector<Replaced> replaced;
  std::vector<const KeyRecord *> appended;
  for (const auto &r : puts) {
    const size_t i = index_of(r.id);
    auto same = std::find_if(replaced.begin(), replaced.end(), [&](const Replaced &e) { return e.entry == i; });
    auto same_new = std::find_if(appended.begin(), appended.end(), [&](const KeyRecord *a) { return a->id == r.id; });
    if (i == npos && same_new != appended.end()) *same_new = &r;  // the later put wins
    else if (i == npos) appended.push_back(&r);
    else if (same != replaced.end()) same->put = &r;
    else replaced.push_back({i, &r});
  }
  std::sort(replaced.begin(), replaced.end(),
            [&](const Replaced &a, const Replaced &b) { return entries_[a.entry].begin < entries_[b.entry].begin; });
  std::vector<Piece> pieces;
  // Where the text moves: the old offset of each replaced item's end, and
  // the shift of everything from there on.
  std::vector<std::pair<uint64_t, int64_t>> shifts;
  std::vector<KeysetIndexEntry> fresh;  // the entries of the written records
  size_t at = 0;
  int64_t shift = 0;
  for (const auto &[i, r] : replaced) {
    const KeysetIndexEntry &old = entries_[i];
    pieces.push_back({at, size_t(old.begin), {}});
    pieces.push_back({0, 0, emit_keyset_item(*r, dash_column_)});
    at = size_t(old.end);
    if (at == text_.size() && text_.back() != '\n') pieces.back().own.pop_back();  // as it was: no final newline
    const uint64_t begin = uint64_t(int64_t(old.begin) + shift);
    fresh.push_back({keyset_id_key(r->id), keyset_hash_head(r->hash), begin, begin + pieces.back().own.size()});
    shift += int64_t(pieces.back().own.size()) - int64_t(old.end - old.begin);
    shifts.emplace_back(old.end, shift);
  }
  pieces.push_back({at, text_.size(), {}});
  uint64_t tail = uint64_t(int64_t(text_.size()) + shift);
  // The last line gets its newline when items follow: the item ending there ends one byte later.
  const uint64_t unterminated = !appended.empty() && !text_.empty() && text_.back() != '\n' ? tail : UINT64_MAX;
  if (unterminated != UINT64_MAX) {
    pieces.push_back({0, 0, "\n"});
    ++tail;
  }
  for (auto &e : fresh)
    if (e.end == unterminated) ++e.end;
  for (const KeyRecord *r : appended) {
    pieces.push_back({0, 0, emit_keyset_item(*r, dash_column_)});
    fresh.push_back({keyset_id_key(r->id), keyset_hash_head(r->hash), tail, tail + pieces.back().own.size()});
    tail += pieces.back().own.size();
  }

  KeysetIndex next;
  // The new index, made while the file is written and fsynced (it needs only the pieces).
  auto make_index = [&] {
    // The new index in one pass: every other entry moved by the shift before
    // it, the written ones (few) merged in.
    next.dash_column = dash_column_;
    std::sort(fresh.begin(), fresh.end(), by_id_key);
    std::vector<size_t> gone;
    for (const auto &rp : replaced) gone.push_back(rp.entry);
    std::sort(gone.begin(), gone.end());
    next.entries.reserve(entries_.size() - gone.size() + fresh.size());
    auto out = std::back_inserter(next.entries);
    auto f = fresh.begin();
    auto g = gone.begin();
    for (size_t i = 0; i < entries_.size(); ++i) {
      if (g != gone.end() && *g == i) {
        ++g;
        continue;
      }
      KeysetIndexEntry e = entries_[i];
      if (!shifts.empty() && e.begin >= shifts.front().first) {
        // The shift of the last replaced item ending at or before e.
        auto s = std::upper_bound(shifts.begin(), shifts.end(), e.begin,
                                  [](uint64_t b, const std::pair<uint64_t, int64_t> &x) { return b < x.first; });
        const int64_t d = std::prev(s)->second;
        e.begin = uint64_t(int64_t(e.begin) + d);
        e.end = uint64_t(int64_t(e.end) + d);
      }
      if (e.end == unterminated) ++e.end;
      for (; f != fresh.end() && by_id_key(*f, e); ++f) *out++ = *f;
      *out++ = e;
    }
    for (; f != fresh.end(); ++f) *out++ = *f;
  };
  SideTask indexer(make_index);
  // What changed, for edgekeyd: the bytes before the first replaced item
  // (or, with only appends, all the old ones) and after the last are kept.
  KeysetSpliceNote note;
  if (before) {
    note.before = *before;
    note.prefix = replaced.empty() ? text_.size() : entries_[replaced.front().entry].begin;
    note.suffix = !appended.empty() || replaced.empty() ? 0 : text_.size() - entries_[replaced.back().entry].end;
  }
  next.stamp = replace_file_copying(path, [&](FileAppender &out) {
    for (const Piece &p : pieces) {
      if (!p.own.empty()) out.append(p.own);
      else if (p.end > p.begin && src_fd >= 0) out.copy(src_fd, p.begin, p.end - p.begin);
      else if (p.end > p.begin) out.append(text_.substr(p.begin, p.end - p.begin));
    }
  }, 0640, [&](const FileStamp &after) {
    if (!before) return;
    note.after = after;
    save_keyset_note(keyset_note_path(path), note, path);
  });
  indexer.wait();  // its exception: the file is written; the caller keeps no index
  return next;
}

}  // namespace edgekey::sync
