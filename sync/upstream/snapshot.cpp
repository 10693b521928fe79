#include "sync/upstream/snapshot.hpp"

#include "sync/record/atomic_file.hpp"
#include "sync/record/record_json.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace edgekey::sync {

void save_snapshot(const std::string &path, const Snapshot &s) {
  nlohmann::json head = {{"edgekey_snapshot", 1},
                         {"revision", s.revision},
                         {"written_at", format_time(s.written_at)},
                         {"region", s.region},
                         {"source", s.source}};
  size_t next = 0;  // the next record to write
  replace_file_atomically(path, [&](std::string &buf) {
    if (next == 0) buf = head.dump() + "\n";
    // Pieces of about 1 MiB: the file is written as it is encoded.
    while (next < s.records.size() && buf.size() < (size_t(1) << 20)) {
      append_record_json(buf, s.records[next++]);
      buf.push_back('\n');
    }
    return next < s.records.size();
  }, 0640);
}

SnapshotLoad load_snapshot(const std::string &path) {
  SnapshotLoad out;
  std::ifstream f(path);
  if (!f) {
    out.error = "snapshot " + path + ": " + std::strerror(errno);
    return out;
  }
  std::string line;
  if (!std::getline(f, line)) {
    out.error = "snapshot " + path + ": empty file";
    return out;
  }
  nlohmann::json head = nlohmann::json::parse(line, nullptr, false);
  if (!head.is_object() || head.value("edgekey_snapshot", 0) != 1 || !head.contains("revision") ||
      !head["revision"].is_number_unsigned()) {
    out.error = "snapshot " + path + ":1: not an edgekey snapshot header";
    return out;
  }
  out.snapshot.revision = head["revision"].get<uint64_t>();
  if (head.contains("written_at") && head["written_at"].is_string())
    parse_time(head["written_at"].get<std::string>(), out.snapshot.written_at);
  if (head.contains("region") && head["region"].is_string()) out.snapshot.region = head["region"];
  if (head.contains("source") && head["source"].is_string()) out.snapshot.source = head["source"];
  for (int n = 2; std::getline(f, line); ++n) {
    if (line.empty()) continue;
    Expected<ValidRecord> r = decode_record_json(line);
    if (!r.ok()) {
      ++out.skipped;
      out.skipped_lines.push_back(path + ":" + std::to_string(n) + ": " + r.error);
      continue;
    }
    out.snapshot.records.push_back(std::move(*r.value).take());
  }
  return out;
}

}  // namespace edgekey::sync
