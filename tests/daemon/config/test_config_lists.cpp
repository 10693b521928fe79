// permissions, publishable and roles: names, limits and cross-references.
#include "config_test_util.hpp"

namespace edgekey::daemon::test {
namespace {

class ConfigLists : public ConfigDir {};

const std::string F = "DIR/edgekey.yaml:";
const std::string kNameRule = "[a-z][a-z0-9_:.-]*, at most 31 bytes";

TEST_F(ConfigLists, RoleUsingAnUndeclaredPermission) {
  EXPECT_EQ(error(replaced(kDesignExample, "viewer: [agents:read]", "viewer: [agents:read, agents:delete]")),
            F + "27: roles.viewer[1]: \"agents:delete\" is not declared under permissions");
  EXPECT_EQ(error("region: eu\npermissions: [a, b]\npublishable: []\nroles:\n  x: [a]\n  y:\n    - b\n    - c\n"),
            F + "8: roles.y[1]: \"c\" is not declared under permissions");
}

TEST_F(ConfigLists, PublishableMustBeASubsetOfPermissions) {
  EXPECT_EQ(error(replaced(kDesignExample, "publishable: [chat:write]", "publishable: [chat:write, billing:refund]")),
            F + "22: publishable[1]: \"billing:refund\" is not declared under permissions");
  EXPECT_EQ(error(replaced(kDesignExample, "publishable: [chat:write]", "publishable: [chat:write, chat:write]")),
            F + "22: publishable[1]: duplicate permission \"chat:write\"");
}

TEST_F(ConfigLists, AtMost64Permissions) {
  std::string perms = "permissions:\n";
  for (int i = 0; i < 65; ++i) perms += "  - p" + std::to_string(i) + "\n";
  EXPECT_EQ(error("region: eu\n" + perms + "publishable: []\nroles: {o: ['*']}\n"),
            F + "3: permissions: expected at most 64 permissions, got 65");
}

TEST_F(ConfigLists, PermissionNames) {
  const std::string tail = "publishable: []\nroles: {o: ['*']}\n";
  EXPECT_EQ(error("region: eu\npermissions: [Chat:Write]\n" + tail),
            F + "2: permissions[0]: expected a permission name of " + kNameRule + ", got \"Chat:Write\"");
  EXPECT_EQ(error("region: eu\npermissions: [ok, 9lives]\n" + tail),
            F + "2: permissions[1]: expected a permission name of " + kNameRule + ", got \"9lives\"");
  const std::string p31 = "a" + std::string(30, 'b');
  const std::string p32 = "a" + std::string(31, 'b');
  EXPECT_EQ(load("region: eu\npermissions: [" + p31 + "]\n" + tail).permissions[0], p31);
  EXPECT_EQ(error("region: eu\npermissions: [" + p32 + "]\n" + tail),
            F + "2: permissions[0]: expected a permission name of " + kNameRule + ", got \"" + p32 + "\"");
  EXPECT_EQ(error("region: eu\npermissions: [a, b, a]\n" + tail),
            F + "2: permissions[2]: duplicate permission \"a\"");
  EXPECT_EQ(error("region: eu\npermissions: [\"*\"]\n" + tail),
            F + "2: permissions[0]: expected a permission name of " + kNameRule + ", got \"*\"");
  EXPECT_EQ(error("region: eu\npermissions: chat:write\n" + tail),
            F + "2: permissions: expected a list of permission names, got \"chat:write\"");
  EXPECT_EQ(error("region: eu\npermissions:\n  - a\n  - {b: c}\n" + tail),
            F + "4: permissions[1]: expected a permission name, got a mapping");
}

TEST_F(ConfigLists, RoleShapes) {
  const std::string head = "region: eu\npermissions: [a, b]\npublishable: []\n";
  EXPECT_EQ(error(head + "roles: {}\n"), F + "4: roles: expected at least one role");
  EXPECT_EQ(error(head + "roles: [a]\n"), F + "4: roles: expected a mapping, got a list");
  EXPECT_EQ(error(head + "roles:\n  Admin: [a]\n"),
            F + "5: roles.Admin: expected a role name of " + kNameRule);
  EXPECT_EQ(error(head + "roles:\n  x: a\n"), F + "5: roles.x: expected a list of permission names, got \"a\"");
  EXPECT_EQ(error(head + "roles:\n  x: [\"*\", a]\n"),
            F + "5: roles.x[0]: \"*\" (every permission) must be the only entry");
  EXPECT_EQ(error(head + "roles:\n  x: [a, a]\n"), F + "5: roles.x[1]: duplicate permission \"a\"");
  EXPECT_EQ(error(head + "roles:\n  x: [a]\n  x: [b]\n"), F + "6: roles.x: duplicate key (first at line 5)");

  std::string many = head + "roles:\n";
  for (int i = 0; i < 65; ++i) many += "  r" + std::to_string(i) + ": [a]\n";
  EXPECT_EQ(error(many), F + "5: roles: expected at most 64 roles, got 65");
}

TEST_F(ConfigLists, DefaultsMustFitACustomPermissionList) {
  // roles and publishable absent: their defaults name permissions this file lacks.
  EXPECT_EQ(error("region: eu\npermissions: [chat:write]\n"),
            F + "2: roles: absent, and the default role analyst uses \"agents:read\", which permissions does "
                "not declare: write a roles: section");
  EXPECT_EQ(error("region: eu\npermissions: [a]\nroles: {x: [a]}\n"),
            F + "2: publishable: absent, and its default [chat:write] names \"chat:write\", which permissions "
                "does not declare: write a publishable: list");
  // A custom list that still holds what the defaults use is fine.
  std::string perms = "region: eu\npermissions: [chat:write, agents:read, agents:write, agents:deploy, logs:read, "
                      "evaluations:read, analytics:read, extra]\n";
  const Config c = load(perms);
  EXPECT_EQ(c.permissions.back(), "extra");
  EXPECT_TRUE(c.roles.at("owner").all);
  EXPECT_EQ(c.policy.role_mask("owner"), 0xffu);
}

}  // namespace
}  // namespace edgekey::daemon::test
