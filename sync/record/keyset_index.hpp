// keyset_index.hpp -- edgekeyctl's index of the keyset file, kept beside it
// in `<keyset>.index`, so that an edit of a file it has already checked
// does not decode every record again.
//
// The index names one version of the file (its FileStamp: device, inode,
// size, mtime and ctime in ns) and holds, per record of that version, 64
// bits of its id, 64 bits of its token hash and its place in the text. It
// is written by edgekeyctl only, under the keyset lock: after a scan that
// read every item's id and hash and found none twice (KeysetEditor::scan;
// the other fields are not judged), or a full read that found every
// record valid, or after a splice of such a file (keyset_edit.hpp). A file whose stamp differs (edited by a
// person, replaced whole, written by an older edgekeyctl) is read whole
// again. It is a cache: not fsynced, checked by a checksum, and may be
// deleted at any time.
#pragma once

#include "sync/record/atomic_file.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::sync {

struct KeysetIndexEntry {
  uint64_t id_key = 0;     // keyset_id_key(id)
  uint64_t hash_head = 0;  // keyset_hash_head(hash text)
  uint64_t begin = 0;      // the item's bytes in the text: [begin, end)
  uint64_t end = 0;
};

struct KeysetIndex {
  FileStamp stamp;            // the version of the file described
  uint64_t dash_column = 0;   // column of every item's '-'
  std::vector<KeysetIndexEntry> entries;  // sorted by (id_key, begin)
};

// 64 bits of an id, the same in every build (the index outlives a binary).
uint64_t keyset_id_key(std::string_view id);
// 64 bits of a record's hash text: its four words mixed (hashes written by
// hand may share a prefix); 0 for a hash that does not parse.
uint64_t keyset_hash_head(const std::string &hash_text);

// `<keyset path>.index`.
std::string keyset_index_path(const std::string &keyset_path);

// The index at `index_path` when it describes the file version `expect`
// and reads back whole; nullopt otherwise (absent, stale, torn).
std::optional<KeysetIndex> load_keyset_index(const std::string &index_path, const FileStamp &expect);

// Writes `index` over the regular file at `index_path` in place, or aside
// and renamed there when there is none (mode 0640; no fsync). Best effort: a failure removes what it wrote and any older index
// (which could only be stale), and is not reported.
void save_keyset_index(const std::string &index_path, const KeysetIndex &index) noexcept;

// edgekeyctl's note of the splice it wrote last, in `<keyset>.splice`, for
// edgekeyd: the file version it replaced and the one it renamed into place
// (their full stamps, `after` as it is after the rename), and that the two
// texts differ only between `prefix` bytes from the start and `suffix`
// bytes from the end. Written after the rename, before edgekeyctl returns;
// not fsynced; checked by a checksum. A reader trusts it only for exactly
// those two versions (so a person's edit, or a whole rewrite, is compared
// byte for byte), and only after keyset_note_fits().
struct KeysetSpliceNote {
  FileStamp before, after;
  uint64_t prefix = 0, suffix = 0;
};

// `<keyset path>.splice`.
std::string keyset_note_path(const std::string &keyset_path);
// The note at `note_path` when it reads back whole; nullopt otherwise.
std::optional<KeysetSpliceNote> load_keyset_note(const std::string &note_path);
// Writes `note` over the regular file at `note_path` in place (no fsync); a
// new one gets the group and the read bits of the file at `keyset_path`
// (edgekeyd, which reads it, may run as another user), if given, else 0640.
// Best effort: a failure removes the file, and is not reported.
void save_keyset_note(const std::string &note_path, const KeysetSpliceNote &note,
                      const std::string &keyset_path = "") noexcept;
// The note's bounds fit the texts `before` and `after` (of the versions it
// names), and the bytes it says are alike are, where checked: the 64 KiB
// next to each bound and the first and last 4 KiB.
bool keyset_note_fits(const KeysetSpliceNote &note, std::string_view before, std::string_view after);

}  // namespace edgekey::sync
