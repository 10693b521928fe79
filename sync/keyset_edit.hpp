// keyset_edit.hpp -- editing the keyset file without parsing and emitting
// all of it: one pass of the fast reader indexes the records (id, place in
// the text, 64 bits of the hash: ~60 bytes a key, no KeyRecord held), and a
// write copies the untouched bytes around the changed records, appending
// new ones (edgekeyctl's `keys create|revoke|rotate`).
//
// Everything else about the file stays as the person who edited it left it
// (comments, order, quoting); a changed record is written in the layout
// emit_keyset_yaml() gives, at the file's indentation.
#pragma once

#include "sync/keyset_file.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::sync {

class KeysetEditor {
 public:
  // Indexes `text` (of the file `source`). False when the editor cannot
  // splice it: a form only the full YAML parser reads, no item yet (`keys:
  // []`), or records that may repeat an id or a hash; the caller then reads
  // and rewrites the file whole (load_keyset_file, save_keyset_file).
  // `text` must outlive the editor.
  bool read(std::string_view text, std::string_view source);

  // Records that do not load, as parse_keyset_yaml reports them.
  const std::vector<KeysetRejection> &rejected() const { return rejected_; }
  size_t size() const { return items_.size(); }

  // The record with this id (decoded again from the text); nullopt if none.
  std::optional<KeyRecord> find(std::string_view id) const;
  // The id of a record other than `id` whose hash text is `hash`; nullopt if none.
  std::optional<std::string> hash_owner(const std::string &hash, std::string_view id) const;

  // Replaces the file at `path` atomically (replace_file_atomically) with
  // the text read, each of `puts` replacing the record with its id or, when
  // none has it, appended to the list. Requires valid records. Throws
  // KeysetError.
  void write(const std::string &path, const std::vector<KeyRecord> &puts) const;

 private:
  size_t index_of(std::string_view id) const;  // npos if none

  std::string_view text_;
  size_t dash_column_ = 0;
  std::vector<ScanItem> items_;      // of the valid records, in file order
  std::vector<std::string> ids_;     // ids_[i]: the id of items_[i]
  std::vector<uint64_t> hash_heads_; // 64 bits of items_[i]'s hash (its words mixed)
  std::vector<KeysetRejection> rejected_;
};

// A record as one item of a `keys:` list whose dashes are at `dash_column`:
// the layout emit_keyset_yaml() gives, ending in a newline.
std::string emit_keyset_item(const KeyRecord &r, size_t dash_column);

}  // namespace edgekey::sync
