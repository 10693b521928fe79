// keyset_edit.cpp -- see keyset_edit.hpp.
#include "sync/keyset_edit.hpp"

#include "sync/atomic_file.hpp"

#include <algorithm>
#include <cstring>
#include <functional>

namespace edgekey::sync {
namespace {

constexpr size_t npos = std::string_view::npos;

// 64 bits of a hash: its four words mixed (hashes written by hand may share a prefix).
uint64_t head_of(const std::string &hash_text) {
  std::array<uint8_t, 32> h{};
  parse_record_hash(hash_text, h);
  uint64_t w[4];
  std::memcpy(w, h.data(), sizeof w);
  return w[0] ^ (w[1] * 0x9e3779b97f4a7c15ull) ^ (w[2] * 0xc2b2ae3d27d4eb4full) ^ (w[3] * 0x165667b19e3779f9ull);
}

bool has_repeats(std::vector<uint64_t> v) {
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) != v.end();
}

}  // namespace

bool KeysetEditor::read(std::string_view text, std::string_view source) {
  text_ = text;
  items_.clear();
  ids_.clear();
  hash_heads_.clear();
  rejected_.clear();
  bool spliceable = true;
  KeysetVisitor v;
  v.restart = [&] { spliceable = false; };
  v.record = [&](KeyRecord &&r, int, const ScanItem *item) {
    if (!item || !spliceable) {
      spliceable = false;
      return;
    }
    items_.push_back(*item);
    hash_heads_.push_back(head_of(r.hash));
    ids_.push_back(std::move(r.id));
  };
  v.reject = [&](KeysetRejection &&rj) { rejected_.push_back(std::move(rj)); };
  const std::string error = stream_keyset(text, source, v);
  if (!error.empty() || !spliceable || items_.empty()) return false;
  std::vector<uint64_t> id_hashes;
  id_hashes.reserve(ids_.size());
  for (const auto &id : ids_) id_hashes.push_back(std::hash<std::string_view>{}(id));
  if (has_repeats(hash_heads_) || has_repeats(std::move(id_hashes))) return false;  // let the full reader judge
  size_t i = items_[0].begin;
  while (text[i] == ' ') ++i;
  dash_column_ = i - items_[0].begin;
  return true;
}

size_t KeysetEditor::index_of(std::string_view id) const {
  for (size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id) return i;
  return npos;
}

std::optional<KeyRecord> KeysetEditor::find(std::string_view id) const {
  const size_t i = index_of(id);
  if (i == npos) return std::nullopt;
  std::vector<RawField> fields;
  if (!decode_item(text_, items_[i], fields)) return std::nullopt;  // read() decoded it: cannot happen
  FieldsOutcome o = record_from_fields(fields, items_[i].line);
  return std::move(o.record);
}

std::optional<std::string> KeysetEditor::hash_owner(const std::string &hash, std::string_view id) const {
  const uint64_t head = head_of(hash);
  for (size_t i = 0; i < hash_heads_.size(); ++i) {
    if (hash_heads_[i] != head || ids_[i] == id) continue;
    std::optional<KeyRecord> r = find(ids_[i]);
    if (r && r->hash == hash) return ids_[i];
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

void KeysetEditor::write(const std::string &path, const std::vector<KeyRecord> &puts) const {
  // The new text: pieces of the old one between replaced items, then appends.
  struct Piece {
    size_t begin = 0, end = 0;  // of text_, when `own` is empty
    std::string own;
  };
  std::vector<std::pair<size_t, const KeyRecord *>> replaced;  // item index, record
  std::vector<const KeyRecord *> appended;
  for (const auto &r : puts) {
    const size_t i = index_of(r.id);
    if (i == npos) {
      appended.push_back(&r);
      continue;
    }
    auto same = std::find_if(replaced.begin(), replaced.end(), [&](const auto &e) { return e.first == i; });
    if (same != replaced.end()) same->second = &r;  // the later put wins
    else replaced.emplace_back(i, &r);
  }
  std::sort(replaced.begin(), replaced.end());
  std::vector<Piece> pieces;
  size_t at = 0;
  for (const auto &[i, r] : replaced) {
    pieces.push_back({at, items_[i].begin, {}});
    pieces.push_back({0, 0, emit_keyset_item(*r, dash_column_)});
    at = items_[i].end;
    if (at == text_.size() && text_.back() != '\n') pieces.back().own.pop_back();  // as it was: no final newline
  }
  pieces.push_back({at, text_.size(), {}});
  if (!appended.empty() && !text_.empty() && text_.back() != '\n') pieces.push_back({0, 0, "\n"});
  for (const KeyRecord *r : appended) pieces.push_back({0, 0, emit_keyset_item(*r, dash_column_)});

  constexpr size_t kChunk = 8 << 20;
  size_t piece = 0, offset = 0;
  replace_file_atomically(path, [&](std::string &buf) {
    while (piece < pieces.size() && buf.size() < kChunk) {
      const Piece &p = pieces[piece];
      if (!p.own.empty() || p.begin == p.end) {
        buf += p.own;
        ++piece;
        continue;
      }
      const size_t n = std::min(kChunk - buf.size(), p.end - p.begin - offset);
      buf.append(text_.data() + p.begin + offset, n);
      offset += n;
      if (p.begin + offset == p.end) {
        ++piece;
        offset = 0;
      }
    }
    return piece < pieces.size();
  }, 0640);
}

}  // namespace edgekey::sync
