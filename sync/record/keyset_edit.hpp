// keyset_edit.hpp -- editing the keyset file without parsing and emitting
// all of it: one pass of the fast reader, or the file's index
// (keyset_index.hpp), gives per record 64 bits of its id and of its hash
// and its place in the text (32 bytes a key, no KeyRecord held), and a
// write copies the untouched bytes around the changed records, appending
// new ones (edgekeyctl's `keys create|revoke|rotate`).
//
// Everything else about the file stays as the person who edited it left it
// (comments, order, quoting); a changed record is written in the layout
// emit_keyset_yaml() gives, at the file's indentation.
#pragma once

#include "sync/record/keyset_file.hpp"
#include "sync/record/keyset_index.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::sync {

class KeysetEditor {
 public:
  // Indexes `text` (of the file `source`), decoding every record. False
  // when the editor cannot splice it: a form only the full YAML parser
  // reads, no item yet (`keys: []`), or records that may repeat an id or a
  // hash; the caller then reads and rewrites the file whole
  // (load_keyset_file, save_keyset_file). `text` must outlive the editor.
  bool read(std::string_view text, std::string_view source);
  // Indexes `text` (of the file `source`) from each record's id and hash
  // alone (item_id_hash), on two threads for a large text: what an edit
  // needs to know of the records it does not change (that an id or hash
  // it writes is no other record's). The other fields are not judged here:
  // a record that does not load is kept as it is by a splice, reported when
  // looked up (find), and rejected with its line by edgekeyd. False when
  // the editor cannot splice the text, an item has no readable id or hash
  // (the caller then read()s it, which judges and reports every record),
  // or two items may share an id or a hash. `text` must outlive the editor.
  bool scan(std::string_view text, std::string_view source);
  // Takes `index` (load_keyset_index: it names the file version `text` was
  // read from) instead of decoding every record: records are decoded only
  // when looked up. False when the index does not fit the text.
  // `source` names the file in messages.
  bool adopt(std::string_view text, KeysetIndex index, std::string_view source = "<keyset>");

  // Records that do not load, as parse_keyset_yaml reports them (read()).
  const std::vector<KeysetRejection> &rejected() const { return rejected_; }
  size_t size() const { return entries_.size(); }

  // The record with this id (decoded again from the text); nullopt if none.
  // Throws KeysetError naming its line and id when the record with this id
  // does not load (scan() and an index do not judge records).
  std::optional<KeyRecord> find(std::string_view id) const;
  // The id of a record other than `id` whose hash text is `hash`; nullopt if none.
  std::optional<std::string> hash_owner(const std::string &hash, std::string_view id) const;

  // The index of the text read, as the file version `stamp`. Meaningful
  // only when nothing was rejected.
  KeysetIndex index(const FileStamp &stamp) const;

  // Replaces the file at `path` atomically (replace_file_copying) with the
  // text read, each of `puts` replacing the record with its id or, when
  // none has it, appended to the list. `src_fd`: the file the text is of,
  // whose unchanged bytes the kernel then copies (-1: copied from the
  // text). Requires valid records. Returns the index of the new file.
  // `before`: the stamp of the file the text is of; when given, the bytes
  // that changed are noted for edgekeyd in keyset_note_path(path) (see
  // KeysetSpliceNote) right after the rename. Throws KeysetError.
  KeysetIndex write(const std::string &path, const std::vector<KeyRecord> &puts, int src_fd = -1,
                    const FileStamp *before = nullptr) const;

 private:
  size_t index_of(std::string_view id) const;  // into entries_; npos if none
  std::optional<KeyRecord> decode(const KeysetIndexEntry &e) const;
  ScanItem item_of(const KeysetIndexEntry &e) const;  // line 0; column 0 when the dash is not at dash_column_
  bool id_hash_of(const KeysetIndexEntry &e, std::string &id, std::string &hash) const;

  std::string source_;

  std::string_view text_;
  size_t dash_column_ = 0;
  std::vector<KeysetIndexEntry> entries_;  // of the valid records, sorted by (id_key, begin)
  std::vector<KeysetRejection> rejected_;
};

// A record as one item of a `keys:` list whose dashes are at `dash_column`:
// the layout emit_keyset_yaml() gives, ending in a newline.
std::string emit_keyset_item(const KeyRecord &r, size_t dash_column);

}  // namespace edgekey::sync
