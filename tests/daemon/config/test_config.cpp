// Loading good edgekey.yaml files: the original design's example, defaults, and what
// other layers derive from a Config (table options, role indexes, summary).
#include "config_test_util.hpp"

#include <algorithm>

namespace edgekey::daemon::test {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const std::vector<std::string> kDefaultPermissions = {
    "chat:write", "agents:read",    "agents:write", "agents:deploy",  "logs:read",
    "evaluations:read", "analytics:read", "keys:manage", "billing:manage"};

class ConfigLoad : public ConfigDir {};

TEST_F(ConfigLoad, DesignExampleLoadsWithExactlyItsValues) {
  const std::string path = write(kDesignExample);
  const Config c = load_config(path);
  EXPECT_EQ(c.source, path);
  EXPECT_EQ(c.region, "in-mum");
  EXPECT_EQ(c.key_prefix, "ek");
  EXPECT_FALSE(c.legacy_tokens);
  EXPECT_EQ(c.hash, shm::HashScheme::Sha256);
  EXPECT_EQ(c.pepper_file, "");
  EXPECT_EQ(c.table.name, "edgekey-in-mum");
  EXPECT_EQ(c.table.capacity, 1000000u);
  EXPECT_EQ(c.table.readers_group, "edgekey-readers");
  EXPECT_EQ(c.table.mode, 0640u);
  EXPECT_EQ(c.socket.path, "/run/edgekey/edgekeyd.sock");
  EXPECT_EQ(c.socket.mode, 0660u);
  EXPECT_EQ(c.upstream.kind, UpstreamKind::File);
  EXPECT_EQ(c.upstream.file, "/etc/edgekey/keys.yaml");
  EXPECT_EQ(c.staleness.max, seconds(60));
  EXPECT_EQ(c.staleness.policy, shm::StalenessPolicy::ServeStale);
  EXPECT_EQ(c.snapshot, "/var/lib/edgekey/snapshot");
  EXPECT_EQ(c.log_level, sync::Severity::Info);
  EXPECT_EQ(c.permissions, kDefaultPermissions);
  EXPECT_EQ(c.publishable, std::vector<std::string>{"chat:write"});
  ASSERT_EQ(c.roles.size(), 4u);
  EXPECT_EQ(c.roles.at("owner"), (RoleSpec{true, {}}));
  EXPECT_EQ(c.roles.at("developer"),
            (RoleSpec{false, {"agents:read", "agents:write", "agents:deploy", "chat:write", "logs:read"}}));
  EXPECT_EQ(c.roles.at("analyst"), (RoleSpec{false, {"agents:read", "evaluations:read", "analytics:read"}}));
  EXPECT_EQ(c.roles.at("viewer"), (RoleSpec{false, {"agents:read"}}));
}

TEST_F(ConfigLoad, AbsentKeysTakeTheDesignDefaults) {
  const Config c = load("region: eu\n");
  const Config example = load(kDesignExample);
  EXPECT_EQ(c.region, "eu");
  EXPECT_EQ(c.table.name, "edgekey-eu");
  EXPECT_EQ(c.key_prefix, "ek");
  EXPECT_FALSE(c.legacy_tokens);
  EXPECT_EQ(c.hash, shm::HashScheme::Sha256);
  EXPECT_EQ(c.table.capacity, 1000000u);
  EXPECT_EQ(c.table.readers_group, "edgekey-readers");
  EXPECT_EQ(c.table.mode, 0640u);
  EXPECT_EQ(c.socket.path, "/run/edgekey/edgekeyd.sock");
  EXPECT_EQ(c.socket.mode, 0660u);
  EXPECT_EQ(c.upstream.kind, UpstreamKind::File);
  EXPECT_EQ(c.upstream.file, "/etc/edgekey/keys.yaml");
  EXPECT_EQ(c.staleness.max, seconds(60));
  EXPECT_EQ(c.staleness.policy, shm::StalenessPolicy::ServeStale);
  EXPECT_EQ(c.snapshot, "/var/lib/edgekey/snapshot");
  EXPECT_EQ(c.log_level, sync::Severity::Info);
  EXPECT_EQ(c.limits.max_connections, 1024u);
  EXPECT_EQ(c.limits.max_header_bytes, 8192u);
  EXPECT_EQ(c.limits.max_body_bytes, 1024u);
  EXPECT_EQ(c.limits.idle_timeout, seconds(60));
  EXPECT_EQ(c.limits.request_timeout, seconds(10));
  // Permissions, publishable and roles default to the example's.
  EXPECT_EQ(c.permissions, example.permissions);
  EXPECT_EQ(c.publishable, example.publishable);
  EXPECT_EQ(c.roles, example.roles);
}

TEST_F(ConfigLoad, EveryKeyCanBeSet) {
  const std::string pepper = dir_ + "/pepper";
  const Config c = load("region: us-east-1\n"
                        "key_prefix: acme2\n"
                        "legacy_tokens: true\n"
                        "hash: hmac-sha256\n"
                        "pepper_file: " + pepper + "\n"
                        "table: {name: t.1, capacity: 64, readers_group: \"\", mode: \"0600\"}\n"
                        "socket: {path: /tmp/ek.sock, mode: \"0666\"}\n"
                        "staleness: {max: 5m, policy: fail_closed}\n"
                        "snapshot: /srv/snap\n"
                        "log_level: debug\n"
                        "limits:\n"
                        "  max_connections: 10\n"
                        "  max_header_bytes: 4096\n"
                        "  max_body_bytes: 0\n"
                        "  idle_timeout: 500ms\n"
                        "  request_timeout: 2s\n");
  EXPECT_EQ(c.region, "us-east-1");
  EXPECT_EQ(c.key_prefix, "acme2");
  EXPECT_TRUE(c.legacy_tokens);
  EXPECT_EQ(c.hash, shm::HashScheme::HmacSha256);
  EXPECT_EQ(c.pepper_file, pepper);
  EXPECT_EQ(c.table.name, "t.1");
  EXPECT_EQ(c.table.capacity, 64u);
  EXPECT_EQ(c.table.readers_group, "");
  EXPECT_EQ(c.table.mode, 0600u);
  EXPECT_EQ(c.socket.path, "/tmp/ek.sock");
  EXPECT_EQ(c.socket.mode, 0666u);
  EXPECT_EQ(c.staleness.max, seconds(300));
  EXPECT_EQ(c.staleness.policy, shm::StalenessPolicy::FailClosed);
  EXPECT_EQ(c.snapshot, "/srv/snap");
  EXPECT_EQ(c.log_level, sync::Severity::Debug);
  EXPECT_EQ(c.limits.max_connections, 10u);
  EXPECT_EQ(c.limits.max_header_bytes, 4096u);
  EXPECT_EQ(c.limits.max_body_bytes, 0u);
  EXPECT_EQ(c.limits.idle_timeout, milliseconds(500));
  EXPECT_EQ(c.limits.request_timeout, seconds(2));
}

TEST_F(ConfigLoad, RelativePathsResolveAgainstTheConfigDirectory) {
  const Config c = load("region: eu\n"
                        "upstream: {file: keys.yaml}\n"
                        "snapshot: state/snap\n"
                        "socket: {path: ek.sock}\n");
  EXPECT_EQ(c.upstream.file, dir_ + "/keys.yaml");
  EXPECT_EQ(c.snapshot, dir_ + "/state/snap");
  EXPECT_EQ(c.socket.path, dir_ + "/ek.sock");

  const Config s = load_config_from_string("region: eu\nupstream: {file: keys.yaml}\n", "mem", "/etc/x");
  EXPECT_EQ(s.upstream.file, "/etc/x/keys.yaml");
  const Config k = load_config_from_string("region: eu\nupstream: {file: keys.yaml}\n", "mem");
  EXPECT_EQ(k.upstream.file, "keys.yaml");
}

TEST_F(ConfigLoad, CustomPermissionsWithTheirOwnRolesAndPublishable) {
  const Config c = load("region: eu\n"
                        "permissions: [a.read, b_write, c-x]\n"
                        "publishable: []\n"
                        "roles:\n"
                        "  zed: [c-x, a.read]\n"
                        "  admin: ['*']\n"
                        "  nobody: []\n");
  EXPECT_EQ(c.permissions, (std::vector<std::string>{"a.read", "b_write", "c-x"}));
  EXPECT_TRUE(c.publishable.empty());
  EXPECT_EQ(c.roles.at("zed").permissions, (std::vector<std::string>{"c-x", "a.read"}));
  EXPECT_TRUE(c.roles.at("admin").all);
  EXPECT_TRUE(c.roles.at("nobody").permissions.empty());

  EXPECT_EQ(c.policy.role_names(), (std::vector<std::string>{"admin", "nobody", "zed"}));
  EXPECT_EQ(c.policy.role_mask("zed"), 0b101u);
  EXPECT_EQ(c.policy.role_mask("admin"), 0b111u);
  EXPECT_EQ(c.policy.role_mask("nobody"), 0u);
  EXPECT_EQ(c.policy.role_mask("ghost"), std::nullopt);
  EXPECT_EQ(c.policy.publishable_mask(), 0u);
}

TEST_F(ConfigLoad, SixtyFourPermissionsFillTheBitmap) {
  std::string perms = "permissions: [";
  for (int i = 0; i < 64; ++i) perms += (i ? ", p" : "p") + std::to_string(i);
  const Config c = load("region: eu\n" + perms + "]\npublishable: [p63]\nroles: {all: ['*'], last: [p63]}\n");
  ASSERT_EQ(c.permissions.size(), 64u);
  EXPECT_EQ(c.policy.role_mask("all"), ~uint64_t(0));
  EXPECT_EQ(c.policy.role_mask("last"), uint64_t(1) << 63);
  EXPECT_EQ(c.policy.publishable_mask(), uint64_t(1) << 63);
}

TEST_F(ConfigLoad, RoleIndexesAndMasksFollowTheDocumentedOrders) {
  const Config c = load(kDesignExample);
  // Roles: sorted by name, whatever the file order.
  EXPECT_EQ(c.policy.role_names(), (std::vector<std::string>{"analyst", "developer", "owner", "viewer"}));
  // Permissions: bit i = permissions[i] in file order.
  EXPECT_EQ(c.policy.permission_mask({"chat:write"}), 1u);
  EXPECT_EQ(c.policy.permission_mask({"agents:read", "billing:manage"}), (1u << 1) | (1u << 8));
  EXPECT_EQ(c.policy.permission_mask({"agents:read", "nope"}), std::nullopt);
  EXPECT_EQ(c.policy.role_mask("owner"), 0x1ffu);
  EXPECT_EQ(c.policy.role_mask("viewer"), 1u << 1);
  EXPECT_EQ(c.policy.role_mask("developer"), 0b11111u);
  EXPECT_EQ(c.policy.publishable_mask(), 1u);
}

TEST_F(ConfigLoad, TableOptionsMirrorTheConfig) {
  const std::string pepper = dir_ + "/pepper";
  const Config c = load(replaced(replaced(kDesignExample, "hash: sha256", "hash: hmac-sha256\npepper_file: " + pepper),
                                 "policy: serve_stale", "policy: fail_closed"));
  const shm::TableOptions o = to_table_options(c);
  EXPECT_EQ(o.name, "edgekey-in-mum");
  EXPECT_EQ(o.capacity, 1000000u);
  EXPECT_EQ(o.mode, 0640u);
  EXPECT_EQ(o.readers_group, "edgekey-readers");
  EXPECT_EQ(o.key_prefix, "ek");
  EXPECT_FALSE(o.legacy_tokens);
  EXPECT_EQ(o.pepper_path, pepper);
  EXPECT_EQ(o.permissions, kDefaultPermissions);
  EXPECT_EQ(o.roles, c.policy.role_names());
  EXPECT_EQ(o.staleness_max_s, 60u);
  EXPECT_EQ(o.staleness_policy, shm::StalenessPolicy::FailClosed);

  EXPECT_EQ(to_table_options(load("region: eu\n")).pepper_path, "");
}

TEST_F(ConfigLoad, TableHugePages) {
  EXPECT_EQ(load(kDesignExample).table.huge_pages, shm::HugePages::Off);
  for (auto [text, want] : {std::pair{"off", shm::HugePages::Off}, std::pair{"try", shm::HugePages::Try},
                            std::pair{"require", shm::HugePages::Require}}) {
    const Config c = load(replaced(kDesignExample, "mode: \"0640\"",
                                   "mode: \"0640\"\n  huge_pages: " + std::string(text)));
    EXPECT_EQ(c.table.huge_pages, want) << text;
    EXPECT_EQ(to_table_options(c).huge_pages, want) << text;
    EXPECT_NE(describe(c).find(std::string("huge pages ") + text), std::string::npos) << describe(c);
  }
  const std::string err = error(replaced(kDesignExample, "mode: \"0640\"", "mode: \"0640\"\n  huge_pages: yes"));
  EXPECT_NE(err.find("table.huge_pages: expected off, try or require, got \"yes\""), std::string::npos) << err;
}

TEST_F(ConfigLoad, TableDirectory) {
  EXPECT_EQ(load(kDesignExample).table.directory, "");
  EXPECT_EQ(load(kDesignExample).table.address(), load(kDesignExample).table.name);
  const Config c = load(replaced(kDesignExample, "mode: \"0640\"", "mode: \"0640\"\n  directory: /dev/hugepages/"));
  EXPECT_EQ(to_table_options(c).directory, "/dev/hugepages/");
  EXPECT_EQ(c.table.address(), "/dev/hugepages/" + c.table.name);
  EXPECT_NE(describe(c).find("readers open /dev/hugepages/" + c.table.name), std::string::npos) << describe(c);
  const std::string err = error(replaced(kDesignExample, "mode: \"0640\"", "mode: \"0640\"\n  directory: hugepages"));
  EXPECT_NE(err.find("table.directory: expected an absolute path"), std::string::npos) << err;
}

TEST_F(ConfigLoad, DescribeSummarisesWithoutSecrets) {
  const std::string text = describe(load(kDesignExample));
  EXPECT_NE(text.find("region in-mum"), std::string::npos) << text;
  EXPECT_NE(text.find("table edgekey-in-mum: capacity 1000000, group edgekey-readers, mode 0640"),
            std::string::npos) << text;
  EXPECT_NE(text.find("upstream file /etc/edgekey/keys.yaml"), std::string::npos) << text;
  EXPECT_NE(text.find("staleness max 1m, then serve_stale"), std::string::npos) << text;
  EXPECT_NE(text.find("  owner: * (all)"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');

  const std::string nats = describe(load("region: eu\n"
                                         "upstream:\n"
                                         "  nats:\n"
                                         "    servers: [nats://127.0.0.1:4222]\n"
                                         "    user: edge\n"
                                         "    password: s3cret-Pa55\n"));
  EXPECT_NE(nats.find("upstream nats nats://127.0.0.1:4222"), std::string::npos) << nats;
  EXPECT_NE(nats.find("user edge"), std::string::npos) << nats;
  EXPECT_EQ(nats.find("s3cret-Pa55"), std::string::npos) << nats;
}

}  // namespace
}  // namespace edgekey::daemon::test
