// table_fixture.hpp -- a throw-away table for one test: a unique name, a
// writer with a small role/permission model, and helpers to mint keys.
#pragma once

#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"

#include <edgekey/edgekey.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>

namespace edgekey::test {

inline std::string unique_table_name(const char *tag) {
  static std::atomic<int> n{0};
  return std::string("ektest-") + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(n++);
}

inline shm::TableOptions test_options(const std::string &name) {
  shm::TableOptions o;
  o.name = name;
  o.capacity = 64;
  o.permissions = {"chat:write", "agents:read", "agents:write", "logs:read"};
  o.roles = {"developer", "owner", "viewer"};
  return o;
}

// A minted key: its token (what a client sends) and its record.
struct Minted {
  std::string token;
  shm::TableRecord rec;
};

inline Minted mint(const std::string &id, const char *type = "sk", const char *env = "live",
                   const shm::TokenHasher &h = shm::TokenHasher()) {
  Minted m;
  m.token = shm::generate_token("ek", type, env);
  h.hash(m.token, m.rec.hash.data());
  m.rec.key_id = id;
  m.rec.workspace = "ws_solar";
  m.rec.role = 0;
  m.rec.perms = 0b0111;  // chat:write, agents:read, agents:write
  m.rec.type = type[0] == 's' ? EK_TYPE_SECRET : EK_TYPE_PUBLISHABLE;
  m.rec.env = env[0] == 'l' ? EK_ENV_LIVE : EK_ENV_TEST;
  return m;
}

// Owns the writer and removes the table's segments at the end.
struct TableFixture {
  std::string name;
  std::unique_ptr<shm::TableWriter> writer;
  explicit TableFixture(const char *tag, shm::TableOptions (*opts)(const std::string &) = test_options)
      : name(unique_table_name(tag)) {
    writer = std::make_unique<shm::TableWriter>(opts(name));
  }
  ~TableFixture() {
    writer.reset();
    shm::TableWriter::destroy(name);
  }
};

}  // namespace edgekey::test
