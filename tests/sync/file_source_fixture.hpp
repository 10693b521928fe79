// A FileSource over a keyset file or directory, for the sync tests: a table
// of its own (role viewer with agents:read, region in-mum), its Applier, a
// libuv loop the test runs by hand, and the source's log split into
// warnings (Warn and above) and infos (the rest).
#pragma once

#include "sync/upstream/applier.hpp"
#include "sync/upstream/file_source.hpp"
#include "sync_test_util.hpp"

#include "shm/writer/table_writer.hpp"

#include <uv.h>

#include <memory>
#include <new>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace edgekey::sync::testing {

struct FileSourceFixture {
  TempDir tmp;
  std::string path;  // the source's keyset: tmp's `name`
  shm::TableOptions opts;
  std::unique_ptr<shm::TableWriter> writer;
  std::unique_ptr<Applier> applier;
  uv_loop_t loop;
  std::unique_ptr<FileSource> source;
  std::vector<std::string> warnings, infos;
  // A log line holding this text throws std::bad_alloc from inside the read
  // that logs it (a read cut short); empty = never.
  std::string fail_at;

  // `table` is the table's name before this process's pid; `directory`
  // makes `name` a keyset directory.
  FileSourceFixture(const std::string &name, bool directory, const std::string &table, size_t capacity)
      : path(tmp.file(name)) {
    if (directory) ::mkdir(path.c_str(), 0755);
    PolicySpec spec;
    spec.permissions = {"agents:read"};
    spec.roles = {{"viewer", {"agents:read"}}};
    spec.region = "in-mum";
    const Policy p = compiled(spec);
    opts.name = table + std::to_string(getpid());
    opts.capacity = capacity;
    p.apply_to(opts);
    shm::TableWriter::destroy(opts.name);
    writer = std::make_unique<shm::TableWriter>(opts);
    applier = std::make_unique<Applier>(*writer, p, nullptr);
    uv_loop_init(&loop);
    source = std::make_unique<FileSource>(&loop, path, *applier, [this](Severity l, const std::string &m) {
      if (!fail_at.empty() && m.find(fail_at) != std::string::npos) throw std::bad_alloc();
      (l >= Severity::Warn ? warnings : infos).push_back(m);
    });
  }
  ~FileSourceFixture() {
    source->close();
    uv_run(&loop, UV_RUN_NOWAIT);
    source.reset();
    uv_loop_close(&loop);
    applier.reset();
    writer.reset();
    shm::TableWriter::destroy(opts.name);
  }
  FileSourceFixture(const FileSourceFixture &) = delete;
  FileSourceFixture &operator=(const FileSourceFixture &) = delete;

  const KeyRecord *id(const std::string &k) const { return applier->find_id(k); }
  // The key of hash_n(h) is in the table.
  bool in_table(unsigned h) const {
    TokenHash t;
    parse_record_hash(hash_n(h), t);
    return writer->get(t).has_value();
  }
};

}  // namespace edgekey::sync::testing
