// keyset_dir.hpp -- a keyset directory: `upstream.file` naming a directory
// whose parts are keyset files.
//
// A part is every regular file directly in the directory whose name ends in
// ".yaml" and does not start with '.' (so edgekeyctl's own side files, its
// temp files, `<part>.index`, `<part>.splice` and the directory's `.lock`,
// are not parts). The parts, read in name order, are the keyset: an id or a
// token hash is unique across all of them. edgekeyctl writes a new key into
// one part (keyset_part_for_new_key) and every other edit into the part
// holding the key, under one lock for the whole directory
// (keyset_dir_lock_base).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::sync {

// `name` (a file name, no directory) names a part.
bool is_keyset_part_name(std::string_view name);

// `path` is a directory (symlinks followed).
bool is_keyset_dir(const std::string &path);

// The part names of directory `dir`, sorted. False with `error` naming the
// directory when it cannot be listed.
bool list_keyset_parts(const std::string &dir, std::vector<std::string> &names, std::string &error);

// What KeysetLock takes for the directory's one lock: its file is `<dir>/.lock`.
std::string keyset_dir_lock_base(const std::string &dir);

// A part holds at most this many keys before edgekeyctl starts a new one
// for new keys: an edit rewrites one part, ~5 MB at this size.
constexpr size_t kKeysetPartKeys = 16384;

// The part a new key goes to, given each part's name (sorted) and key
// count: the one with the fewest keys if it holds fewer than
// kKeysetPartKeys (the first such in name order), else a new part named
// keys-NNNN.yaml, NNNN one above the highest such number in use.
std::string keyset_part_for_new_key(const std::vector<std::string> &names, const std::vector<size_t> &counts);

}  // namespace edgekey::sync
