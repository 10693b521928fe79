// config.cpp -- reading edgekey.yaml into a Config (see config.hpp).
#include "daemon/config/config.hpp"

#include "daemon/config/nats_config.hpp"
#include "daemon/config/yaml_reader.hpp"
#include "shm/writer/token.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace edgekey::daemon {

namespace {

using detail::index;
using detail::MapView;
using detail::Reader;
using std::chrono::milliseconds;

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr uint64_t kMaxCapacity = uint64_t(1) << 28;
constexpr size_t kMaxTableName = 200;  // the writer appends ".g<generation>"
constexpr size_t kMaxSocketPath = 107;  // sizeof(sockaddr_un::sun_path) - 1
constexpr milliseconds kDay{86'400'000};

constexpr std::string_view kNameRule = "[a-z][a-z0-9_:.-]*, at most 31 bytes";

bool lower_digit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// Permission and role names: [a-z][a-z0-9_:.-]{0,30}.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > shm::kMaxNameLen || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return lower_digit(c) || c == '_' || c == ':' || c == '.' || c == '-';
  });
}

// Regions look like DNS labels: [a-z0-9]([a-z0-9-]*[a-z0-9])?, at most 63 bytes.
bool valid_region(std::string_view s) {
  if (s.empty() || s.size() > 63 || !lower_digit(s.front()) || !lower_digit(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return lower_digit(c) || c == '-'; });
}

// POSIX shm names as the writer uses them: no '/', no leading '.'.
bool valid_table_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxTableName || s.front() == '.') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return lower_digit(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' || c == '-';
  });
}

// Group names as useradd accepts them: [a-z_][a-z0-9_-]*[$]?, at most 32 bytes.
bool valid_group(std::string_view s) {
  if (s.empty() || s.size() > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (lower_digit(c) || c == '_' || c == '-') continue;
    if (c == '$' && i + 1 == s.size()) continue;
    return false;
  }
  return true;
}

void read_table(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.map(n, "table", {"name", "capacity", "readers_group", "mode", "huge_pages", "directory"});
  if (const auto *e = m.find("name")) {
    c.table.name = r.scalar(e->value, m.child("name"), "a shared-memory name");
    if (!valid_table_name(c.table.name))
      r.expected(e->value, m.child("name"),
                 "a shared-memory name of 1..200 characters [A-Za-z0-9_.-] without '/'");
  }
  if (const auto *e = m.find("capacity")) c.table.capacity = r.uint(e->value, m.child("capacity"), 1, kMaxCapacity);
  if (const auto *e = m.find("readers_group")) {
    c.table.readers_group = r.scalar(e->value, m.child("readers_group"), "a group name");
    if (!c.table.readers_group.empty() && !valid_group(c.table.readers_group))
      r.expected(e->value, m.child("readers_group"), "a group name such as edgekey-readers (or \"\")");
  }
  if (const auto *e = m.find("mode")) {
    c.table.mode = r.mode(e->value, m.child("mode"));
    if (c.table.mode & 0002)
      r.fail(e->value, m.child("mode"), "must not be world-writable (readers map the table read-only)");
  }
  if (const auto *e = m.find("huge_pages")) {
    const std::string h = r.one_of(e->value, m.child("huge_pages"), {"off", "try", "require"});
    c.table.huge_pages = h == "require" ? shm::HugePages::Require
                         : h == "try"   ? shm::HugePages::Try
                                        : shm::HugePages::Off;
  }
  // Whether it is hugetlbfs or tmpfs is the writer's check, at start-up.
  if (const auto *e = m.find("directory")) {
    c.table.directory = r.scalar(e->value, m.child("directory"), "a directory");
    if (!c.table.directory.empty() && c.table.directory[0] != '/')
      r.expected(e->value, m.child("directory"), "an absolute path to a hugetlbfs or tmpfs directory (or \"\")");
    if (c.table.directory.size() > 200)
      r.fail(e->value, m.child("directory"), "expected a path of at most 200 bytes");
  }
}

void read_socket(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.map(n, "socket", {"path", "mode"});
  if (const auto *e = m.find("path")) c.socket.path = r.file_path(e->value, m.child("path"), kMaxSocketPath);
  if (const auto *e = m.find("mode")) c.socket.mode = r.mode(e->value, m.child("mode"));
}

void read_upstream(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.map(n, "upstream", {"file", "nats"});
  const auto *file = m.find("file");
  const auto *nats = m.find("nats");
  if (file && nats)
    r.fail(m.entries()[1].key_line, "upstream", "give exactly one of file or nats, not both");
  if (file) {
    c.upstream.kind = UpstreamKind::File;
    c.upstream.file = r.file_path(file->value, m.child("file"));
  } else if (nats) {
    c.upstream.kind = UpstreamKind::Nats;
    c.upstream.nats = detail::read_nats(r, nats->value, m.child("nats"));
  } else {
    r.fail(m.line(), "upstream", "expected file: PATH or nats: {...}, got neither");
  }
}

void read_staleness(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.map(n, "staleness", {"max", "policy"});
  if (const auto *e = m.find("max")) {
    const milliseconds d = r.duration(e->value, m.child("max"), milliseconds(1000),
                                      milliseconds(int64_t(UINT32_MAX) * 1000));
    if (d.count() % 1000 != 0) r.expected(e->value, m.child("max"), "a whole number of seconds");
    c.staleness.max = std::chrono::duration_cast<std::chrono::seconds>(d);
  }
  if (const auto *e = m.find("policy"))
    c.staleness.policy = r.one_of(e->value, m.child("policy"), {"serve_stale", "fail_closed"}) == "fail_closed"
                             ? shm::StalenessPolicy::FailClosed
                             : shm::StalenessPolicy::ServeStale;
}

void read_limits(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.map(n, "limits",
                          {"max_connections", "max_header_bytes", "max_body_bytes", "idle_timeout",
                           "request_timeout"});
  LimitsConfig &l = c.limits;
  if (const auto *e = m.find("max_connections"))
    l.max_connections = uint32_t(r.uint(e->value, m.child("max_connections"), 1, 1 << 20));
  if (const auto *e = m.find("max_header_bytes"))
    l.max_header_bytes = uint32_t(r.uint(e->value, m.child("max_header_bytes"), 1024, 1 << 20));
  if (const auto *e = m.find("max_body_bytes"))
    l.max_body_bytes = uint32_t(r.uint(e->value, m.child("max_body_bytes"), 0, 1 << 20));
  if (const auto *e = m.find("idle_timeout"))
    l.idle_timeout = r.duration(e->value, m.child("idle_timeout"), milliseconds(1), kDay);
  if (const auto *e = m.find("request_timeout"))
    l.request_timeout = r.duration(e->value, m.child("request_timeout"), milliseconds(1), kDay);
}

bool declared(const Config &c, std::string_view p) {
  return std::find(c.permissions.begin(), c.permissions.end(), p) != c.permissions.end();
}

void read_permissions(const Reader &r, const YAML::Node &n, Config &c) {
  const auto items = r.scalar_list(n, "permissions", "permission name");
  if (items.size() > shm::kMaxPermissions)
    r.fail(n, "permissions", "expected at most 64 permissions, got " + std::to_string(items.size()));
  c.permissions.clear();
  for (size_t i = 0; i < items.size(); ++i) {
    const auto &[p, node] = items[i];
    if (!valid_name(p)) r.expected(node, index("permissions", i), "a permission name of " + std::string(kNameRule));
    if (declared(c, p)) r.fail(node, index("permissions", i), "duplicate permission " + detail::quoted(p));
    c.permissions.push_back(p);
  }
}

void read_publishable(const Reader &r, const YAML::Node &n, Config &c) {
  c.publishable.clear();
  const auto items = r.scalar_list(n, "publishable", "permission name");
  for (size_t i = 0; i < items.size(); ++i) {
    const auto &[p, node] = items[i];
    if (!declared(c, p)) r.fail(node, index("publishable", i), detail::quoted(p) + " is not declared under permissions");
    if (std::find(c.publishable.begin(), c.publishable.end(), p) != c.publishable.end())
      r.fail(node, index("publishable", i), "duplicate permission " + detail::quoted(p));
    c.publishable.push_back(p);
  }
}

void read_roles(const Reader &r, const YAML::Node &n, Config &c) {
  const MapView m = r.open_map(n, "roles");
  if (m.entries().empty()) r.fail(m.line(), "roles", "expected at least one role");
  if (m.entries().size() > shm::kMaxRoles)
    r.fail(m.line(), "roles", "expected at most 64 roles, got " + std::to_string(m.entries().size()));
  c.roles.clear();
  for (const auto &e : m.entries()) {
    const std::string path = m.child(detail::escaped(e.key));
    if (!valid_name(e.key))
      r.fail(e.key_line, path, "expected a role name of " + std::string(kNameRule));
    const auto items = r.scalar_list(e.value, path, "permission name");
    RoleSpec spec;
    for (size_t i = 0; i < items.size(); ++i) {
      const auto &[p, node] = items[i];
      if (p == "*") {
        if (items.size() != 1) r.fail(node, index(path, i), "\"*\" (every permission) must be the only entry");
        spec.all = true;
        continue;
      }
      if (!declared(c, p)) r.fail(node, index(path, i), detail::quoted(p) + " is not declared under permissions");
      if (std::find(spec.permissions.begin(), spec.permissions.end(), p) != spec.permissions.end())
        r.fail(node, index(path, i), "duplicate permission " + detail::quoted(p));
      spec.permissions.push_back(p);
    }
    c.roles.emplace(e.key, std::move(spec));
  }
}

// With a custom permissions list and no publishable/roles sections, the
// defaults must still only name declared permissions.
void check_defaults(const Reader &r, int permissions_line, bool have_publishable, bool have_roles,
                    const Config &c) {
  if (!have_publishable)
    for (const auto &p : c.publishable)
      if (!declared(c, p))
        r.fail(permissions_line, "publishable",
               "absent, and its default [chat:write] names " + detail::quoted(p) +
                   ", which permissions does not declare: write a publishable: list");
  if (!have_roles)
    for (const auto &[role, spec] : c.roles)
      for (const auto &p : spec.permissions)
        if (!declared(c, p))
          r.fail(permissions_line, "roles",
                 "absent, and the default role " + role + " uses " + detail::quoted(p) +
                     ", which permissions does not declare: write a roles: section");
}

// The sections above, checked line by line, as the one Policy every user reads.
sync::Policy compile_policy(const Reader &r, int line, const Config &c) {
  sync::PolicySpec spec;
  spec.permissions = c.permissions;
  spec.publishable = c.publishable;
  for (const auto &[name, role] : c.roles) spec.roles[name] = role.all ? std::vector<std::string>{"*"} : role.permissions;
  spec.region = c.region;
  spec.hash_scheme = c.hash;
  auto p = sync::Policy::make(std::move(spec));
  if (!p) r.fail(line, "", p.error);
  return std::move(*p.value);
}

Config read_config(const Reader &r, const YAML::Node &root, const std::string &source) {
  const MapView m = r.map(root, "",
                          {"region", "key_prefix", "legacy_tokens", "hash", "pepper_file", "table",
                           "socket", "upstream", "staleness", "snapshot", "log_level", "limits",
                           "permissions", "publishable", "roles"});
  Config c;
  c.source = source;

  const auto *region = m.find("region");
  if (!region) r.fail(m.line(), "region", "required (e.g. region: in-mum)");
  c.region = r.scalar(region->value, "region", "a region name");
  if (!valid_region(c.region))
    r.expected(region->value, "region", "a region name of [a-z0-9-], at most 63 bytes, such as in-mum");
  c.table.name = "edgekey-" + c.region;

  if (const auto *e = m.find("key_prefix")) {
    c.key_prefix = r.scalar(e->value, "key_prefix", "a key prefix");
    if (!shm::valid_prefix(c.key_prefix)) r.expected(e->value, "key_prefix", "a key prefix of [a-z][a-z0-9]{1,15}");
  }
  if (const auto *e = m.find("legacy_tokens")) c.legacy_tokens = r.boolean(e->value, "legacy_tokens");

  const auto *hash = m.find("hash");
  if (hash && r.one_of(hash->value, "hash", {"sha256", "hmac-sha256"}) == "hmac-sha256")
    c.hash = shm::HashScheme::HmacSha256;
  const auto *pepper = m.find("pepper_file");
  if (c.hash == shm::HashScheme::HmacSha256) {
    if (!pepper) r.fail(hash->key_line, "pepper_file", "required with hash: hmac-sha256");
    c.pepper_file = r.file_path(pepper->value, "pepper_file", shm::kMaxPathLen);
  } else if (pepper) {
    r.fail(pepper->key_line, "pepper_file", "only used with hash: hmac-sha256");
  }

  if (const auto *e = m.find("table")) read_table(r, e->value, c);
  if (const auto *e = m.find("socket")) read_socket(r, e->value, c);
  if (const auto *e = m.find("upstream")) read_upstream(r, e->value, c);
  if (const auto *e = m.find("staleness")) read_staleness(r, e->value, c);
  if (const auto *e = m.find("snapshot")) c.snapshot = r.file_path(e->value, "snapshot");
  if (const auto *e = m.find("log_level")) {
    const std::string l = r.one_of(e->value, "log_level", {"debug", "info", "warn", "error"});
    c.log_level = l == "debug" ? sync::Severity::Debug : l == "info" ? sync::Severity::Info
                : l == "warn"  ? sync::Severity::Warn  : sync::Severity::Error;
  }
  if (const auto *e = m.find("limits")) read_limits(r, e->value, c);

  const auto *perms = m.find("permissions");
  const auto *publishable = m.find("publishable");
  const auto *roles = m.find("roles");
  if (perms) {
    read_permissions(r, perms->value, c);
    check_defaults(r, perms->key_line, publishable != nullptr, roles != nullptr, c);
  }
  if (publishable) read_publishable(r, publishable->value, c);
  if (roles) read_roles(r, roles->value, c);
  c.policy = compile_policy(r, m.line(), c);
  return c;
}

}  // namespace

Config load_config_from_string(std::string_view text, const std::string &name, const std::string &base_dir) {
  const Reader r(name, base_dir);
  if (text.size() > kMaxConfigBytes)
    r.fail(1, "", "larger than 1 MiB (" + std::to_string(text.size()) + " bytes): not a config file");
  const YAML::Node root = r.parse(text);
  try {
    return read_config(r, root, name);
  } catch (const YAML::Exception &e) {
    // Not expected from the checked reads above; kept one line like the rest.
    r.fail(e.mark.is_null() ? 1 : e.mark.line + 1, "", "unreadable value: " + e.msg);
  }
}

Config load_config(const std::string &path) {
  auto io_error = [&](int err) -> ConfigError {
    return ConfigError(path + ": cannot read: " + std::strerror(err));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw io_error(errno);
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw io_error(err);
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > kMaxConfigBytes) break;  // load_config_from_string reports it
  }
  ::close(fd);

  std::error_code ec;
  std::filesystem::path base = std::filesystem::absolute(path, ec);
  base = ec ? std::filesystem::path(path).parent_path() : base.lexically_normal().parent_path();
  return load_config_from_string(text, path, base.string());
}

}  // namespace edgekey::daemon
