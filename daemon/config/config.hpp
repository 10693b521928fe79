// config.hpp -- edgekey.yaml: what edgekeyd and edgekeyctl are configured with.
//
// load_config() is strict: every key is checked against the schema (unknown
// keys and duplicate keys are errors, so a typo never silently falls back to
// a default), every value against its syntax and range, and the sections
// against each other (publishable ⊆ permissions, roles use only declared
// permissions, exactly one upstream). Any failure is a ConfigError whose
// what() is one line:
//
//   FILE:LINE: KEY.PATH: expected …, got "…"
//
// Relative paths in the file (pepper_file, upstream.file, snapshot, socket,
// NATS credentials/TLS files) are resolved against the directory of the
// config file; with load_config_from_string they are resolved against the
// `base_dir` argument, or kept relative when it is empty.
#pragma once

#include "daemon/config/duration.hpp"
#include "shm/writer/limits.hpp"
#include "shm/writer/table_options.hpp"
#include "sync/record/policy.hpp"
#include "sync/upstream/nats/nats_options.hpp"
#include "sync/upstream/severity.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::daemon {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class UpstreamKind : uint8_t { File, Nats };

struct TableConfig {
  std::string name;                            // POSIX shm name; default "edgekey-<region>"
  uint64_t capacity = 1'000'000;               // initial slots, 1..2^28
  std::string readers_group = "edgekey-readers";  // "" = the daemon's own group
  unsigned mode = 0640;                        // never world-writable
  shm::HugePages huge_pages = shm::HugePages::Off;  // off | try | require (2 MiB pages)
  std::string directory;  // "" = /dev/shm; else an absolute hugetlbfs (or tmpfs) directory
  // What readers pass to ek_open: the name, or "<directory>/<name>".
  std::string address() const { return shm::table_address(directory, name); }
};

struct SocketConfig {
  std::string path = "/run/edgekey/edgekeyd.sock";  // at most 107 bytes (sun_path)
  unsigned mode = 0660;
};

using NatsTlsConfig = sync::NatsTlsOptions;
using NatsConfig = sync::NatsOptions;  // see sync/upstream/nats/nats_options.hpp

struct UpstreamConfig {
  UpstreamKind kind = UpstreamKind::File;
  std::string file = "/etc/edgekey/keys.yaml";  // meaningful when kind == File
  NatsConfig nats;                              // meaningful when kind == Nats
};

struct StalenessConfig {
  std::chrono::seconds max{60};  // 1s .. 2^32-1 s, whole seconds
  shm::StalenessPolicy policy = shm::StalenessPolicy::ServeStale;
};

// Daemon connection limits. max_body_bytes = 0 refuses any request body
// (the API is GET only; the default tolerates small bodies some clients send).
struct LimitsConfig {
  uint32_t max_connections = 1024;
  uint32_t max_header_bytes = 8192;
  uint32_t max_body_bytes = 1024;
  std::chrono::milliseconds idle_timeout{60'000};
  std::chrono::milliseconds request_timeout{10'000};
};

// A role's permissions. `all` ("*" in the file) means every declared
// permission, including ones added to the file later; otherwise
// `permissions` lists declared permissions, each once, in file order.
struct RoleSpec {
  bool all = false;
  std::vector<std::string> permissions;
  bool operator==(const RoleSpec &) const = default;
};

// The defaults below are examples/edgekey.yaml's; `region` has none (required).
struct Config {
  std::string source;  // the file (or name) it was loaded from
  std::string region;
  std::string key_prefix = "ek";
  bool legacy_tokens = false;
  shm::HashScheme hash = shm::HashScheme::Sha256;
  std::string pepper_file;  // set iff hash == HmacSha256
  TableConfig table;
  SocketConfig socket;
  UpstreamConfig upstream;
  StalenessConfig staleness;
  std::string snapshot = "/var/lib/edgekey/snapshot";
  sync::Severity log_level = sync::Severity::Info;  // lines below it are not logged
  LimitsConfig limits;
  // At most 64, unique, [a-z][a-z0-9_:.-]* of at most 31 bytes.
  // Bit i of a permission bitmap is permissions[i] (file order).
  std::vector<std::string> permissions = {
      "chat:write", "agents:read",      "agents:write",   "agents:deploy", "logs:read",
      "evaluations:read", "analytics:read", "keys:manage", "billing:manage"};
  std::vector<std::string> publishable = {"chat:write"};  // ⊆ permissions
  // 1..64 roles; names follow the permission-name rule.
  std::map<std::string, RoleSpec> roles = {
      {"owner", {true, {}}},
      {"developer", {false, {"agents:read", "agents:write", "agents:deploy", "chat:write", "logs:read"}}},
      {"analyst", {false, {"agents:read", "evaluations:read", "analytics:read"}}},
      {"viewer", {false, {"agents:read"}}},
  };
  // permissions, publishable, roles, region and hash compiled by the loader:
  // what edgekeyd and edgekeyctl read them through (bit and role order).
  sync::Policy policy;
};

// Reads and validates the file. Throws ConfigError (one line) on any problem,
// including a file that cannot be read (the message carries the errno text).
Config load_config(const std::string &path);

// The same from text in memory; `name` stands for the file in messages.
// Inputs over 1 MiB are rejected. Throws only ConfigError (and bad_alloc).
Config load_config_from_string(std::string_view text, const std::string &name,
                               const std::string &base_dir = "");

// Options for shm::TableWriter; permission and role names from c.policy.
shm::TableOptions to_table_options(const Config &c);

// A short multi-line summary for `edgekeyd --check-config`; never contains
// a password. Ends with a newline.
std::string describe(const Config &c);


}  // namespace edgekey::daemon
