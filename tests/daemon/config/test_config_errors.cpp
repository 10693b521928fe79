// Bad edgekey.yaml files: each mistake is one line naming the file, the
// line, the key path and what was expected.
#include "config_test_util.hpp"

namespace edgekey::daemon::test {
namespace {

class ConfigErrors : public ConfigDir {
 protected:
  // The error of the design's example with `from` replaced by `to`.
  std::string example_error(const std::string &from, const std::string &to) {
    return error(replaced(kDesignExample, from, to));
  }
};

const std::string F = "DIR/edgekey.yaml:";

TEST_F(ConfigErrors, StalenessPolicy) {
  EXPECT_EQ(example_error("policy: serve_stale", "policy: fail_open"),
            F + "17: staleness.policy: expected serve_stale or fail_closed, got \"fail_open\"");
}

TEST_F(ConfigErrors, StalenessMax) {
  EXPECT_EQ(example_error("max: 60s", "max: 10"),
            F + "16: staleness.max: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got \"10\"");
  EXPECT_EQ(example_error("max: 60s", "max: 1500ms"),
            F + "16: staleness.max: expected a whole number of seconds, got \"1500ms\"");
  EXPECT_EQ(example_error("max: 60s", "max: 0s"),
            F + "16: staleness.max: expected a duration from 1s to 4294967295s, got \"0s\"");
  EXPECT_EQ(example_error("max: 60s", "max: [60s]"),
            F + "16: staleness.max: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got a list");
}

TEST_F(ConfigErrors, KeyPrefixLegacyHash) {
  EXPECT_EQ(example_error("key_prefix: ek", "key_prefix: EK"),
            F + "2: key_prefix: expected a key prefix of [a-z][a-z0-9]{1,15}, got \"EK\"");
  EXPECT_EQ(example_error("key_prefix: ek", "key_prefix: e"),
            F + "2: key_prefix: expected a key prefix of [a-z][a-z0-9]{1,15}, got \"e\"");
  EXPECT_EQ(example_error("legacy_tokens: false", "legacy_tokens: yes"),
            F + "3: legacy_tokens: expected true or false, got \"yes\"");
  EXPECT_EQ(example_error("hash: sha256", "hash: md5"),
            F + "4: hash: expected sha256 or hmac-sha256, got \"md5\"");
  EXPECT_EQ(example_error("hash: sha256", "hash: hmac-sha256"),
            F + "4: pepper_file: required with hash: hmac-sha256");
  EXPECT_EQ(example_error("hash: sha256 ", "hash: sha256\npepper_file: /etc/edgekey/pepper "),
            F + "5: pepper_file: only used with hash: hmac-sha256");
  EXPECT_EQ(error("region: eu\npepper_file: /p\n"), F + "2: pepper_file: only used with hash: hmac-sha256");
}

TEST_F(ConfigErrors, Region) {
  EXPECT_EQ(example_error("region: in-mum", "region: In_Mum"),
            F + "1: region: expected a region name of [a-z0-9-], at most 63 bytes, such as in-mum, got \"In_Mum\"");
  EXPECT_EQ(error("key_prefix: ek\n"), F + "1: region: required (e.g. region: in-mum)");
  EXPECT_EQ(error(""), F + "1: region: required (e.g. region: in-mum)");
  EXPECT_EQ(error("# nothing but a comment\n"), F + "1: region: required (e.g. region: in-mum)");
  EXPECT_EQ(error("log_level: info\nregion: [a, b]\n"), F + "2: region: expected a region name, got a list");
}

TEST_F(ConfigErrors, Table) {
  EXPECT_EQ(example_error("capacity: 1000000", "capacity: 0"),
            F + "7: table.capacity: expected an integer in 1..268435456, got \"0\"");
  EXPECT_EQ(example_error("capacity: 1000000", "capacity: -5"),
            F + "7: table.capacity: expected an integer in 1..268435456, got \"-5\"");
  EXPECT_EQ(example_error("capacity: 1000000", "capacity: 1e6"),
            F + "7: table.capacity: expected an integer in 1..268435456, got \"1e6\"");
  EXPECT_EQ(example_error("capacity: 1000000", "capacity: 99999999999999999999999"),
            F + "7: table.capacity: expected an integer in 1..268435456, got \"99999999999999999999999\"");
  EXPECT_EQ(example_error("mode: \"0640\"", "mode: 640"),
            F + "9: table.mode: expected an octal file mode such as \"0640\", got \"640\"");
  EXPECT_EQ(example_error("mode: \"0640\"", "mode: \"0648\""),
            F + "9: table.mode: expected an octal file mode such as \"0640\", got \"0648\"");
  EXPECT_EQ(example_error("mode: \"0640\"", "mode: \"0642\""),
            F + "9: table.mode: must not be world-writable (readers map the table read-only)");
  EXPECT_EQ(example_error("name: edgekey-in-mum", "name: /edgekey"),
            F + "6: table.name: expected a shared-memory name of 1..200 characters [A-Za-z0-9_.-] without '/', "
                "got \"/edgekey\"");
  EXPECT_EQ(example_error("readers_group: edgekey-readers", "readers_group: Bad Group"),
            F + "8: table.readers_group: expected a group name such as edgekey-readers (or \"\"), got \"Bad Group\"");
  EXPECT_EQ(error("region: eu\ntable: 5\n"), F + "2: table: expected a mapping, got \"5\"");
}

TEST_F(ConfigErrors, SocketSnapshotLogLevel) {
  const std::string long_path = "/run/" + std::string(115, 'x');
  EXPECT_EQ(example_error("path: /run/edgekey/edgekeyd.sock", "path: " + long_path),
            F + "11: socket.path: expected a path of at most 107 bytes, got 120 bytes");
  EXPECT_EQ(example_error("mode: \"0660\"", "mode: rw"),
            F + "12: socket.mode: expected an octal file mode such as \"0640\", got \"rw\"");
  EXPECT_EQ(example_error("log_level: info", "log_level: verbose"),
            F + "19: log_level: expected debug, info, warn or error, got \"verbose\"");
  EXPECT_EQ(example_error("snapshot: /var/lib/edgekey/snapshot", "snapshot: \"\""),
            F + "18: snapshot: expected a file path, got \"\"");
  EXPECT_EQ(example_error("snapshot: /var/lib/edgekey/snapshot", "snapshot:"),
            F + "18: snapshot: expected a file path, got nothing");
  EXPECT_EQ(error("region: eu\nupstream:\nlog_level: info\n"),
            F + "2: upstream: expected file: PATH or nats: {...}, got neither");
  EXPECT_EQ(example_error("snapshot: /var/lib/edgekey/snapshot", "snapshot: {a: 1}"),
            F + "18: snapshot: expected a file path, got a mapping");
}

TEST_F(ConfigErrors, Limits) {
  EXPECT_EQ(error("region: eu\nlimits:\n  max_connections: 0\n"),
            F + "3: limits.max_connections: expected an integer in 1..1048576, got \"0\"");
  EXPECT_EQ(error("region: eu\nlimits:\n  max_header_bytes: 100\n"),
            F + "3: limits.max_header_bytes: expected an integer in 1024..1048576, got \"100\"");
  EXPECT_EQ(error("region: eu\nlimits:\n  idle_timeout: 5x\n"),
            F + "3: limits.idle_timeout: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got \"5x\"");
  EXPECT_EQ(error("region: eu\nlimits:\n\n  request_timeout: 0s\n"),
            F + "4: limits.request_timeout: expected a duration from 1ms to 1d, got \"0s\"");
  EXPECT_EQ(error("region: eu\nlimits:\n  watchdog: 10s\n"),
            F + "3: limits.watchdog: unknown key; valid keys under limits: max_connections, max_header_bytes, "
                "max_body_bytes, idle_timeout, request_timeout");
}

TEST_F(ConfigErrors, UnknownTopLevelKeyNamesTheValidOnes) {
  EXPECT_EQ(error("region: eu\nregoin: in-mum\n"),
            F + "2: regoin: unknown key; valid keys: region, key_prefix, legacy_tokens, hash, pepper_file, "
                "table, socket, upstream, staleness, snapshot, log_level, limits, permissions, publishable, "
                "roles");
  EXPECT_TRUE(StartsWith(error("region: eu\nwatchdog: 10s\n"), F + "2: watchdog: unknown key; valid keys: "));
}

TEST_F(ConfigErrors, UnknownNestedKey) {
  EXPECT_EQ(example_error("  name: edgekey-in-mum", "  nmae: edgekey-in-mum"),
            F + "6: table.nmae: unknown key; valid keys under table: name, capacity, readers_group, mode, huge_pages, directory");
  EXPECT_EQ(example_error("  policy: serve_stale", "  polcy: serve_stale"),
            F + "17: staleness.polcy: unknown key; valid keys under staleness: max, policy");
}

TEST_F(ConfigErrors, DuplicateKey) {
  EXPECT_EQ(error("region: eu\nlog_level: info\nlog_level: debug\n"),
            F + "3: log_level: duplicate key (first at line 2)");
  EXPECT_EQ(error("region: eu\ntable:\n  capacity: 8\n  capacity: 16\n"),
            F + "4: table.capacity: duplicate key (first at line 3)");
}

TEST_F(ConfigErrors, KeysWithControlCharactersStayOnOneLine) {
  EXPECT_TRUE(StartsWith(error("region: eu\n\"a\\nb\": 1\n"), F + "2: a\\x0ab: unknown key; valid keys: "));
}

TEST_F(ConfigErrors, NotYaml) {
  const std::string unclosed = error("region: eu\nroles: [a, b\nlog_level: info\n");
  EXPECT_EQ(unclosed.rfind(F, 0), 0u) << unclosed;
  EXPECT_NE(unclosed.find(": not valid YAML: "), std::string::npos) << unclosed;

  EXPECT_EQ(error("region: eu\nroles: {a: [b}\n"), F + "2: not valid YAML: illegal flow end");
  EXPECT_EQ(error("region: eu\n  table: x\n"), F + "2: not valid YAML: illegal map value");
  EXPECT_EQ(error("region: eu\n\tlog_level: info\n"), F + "2: not valid YAML: illegal tab when looking for indentation");
  EXPECT_EQ(error("region: eu\nlog_level: *lvl\n"), F + "2: not valid YAML: the referenced anchor is not defined");
  EXPECT_EQ(error("- a\n- b\n"), F + "1: expected a mapping, got a list");
  EXPECT_EQ(error("hello\n"), F + "1: expected a mapping, got \"hello\"");
  EXPECT_EQ(error("region: eu\n---\nregion: us\n"), F + "2: expected one YAML document, found several");
  // Inputs on which yaml-cpp 0.7's LoadAll loops forever (upstream issue #1040).
  EXPECT_EQ(error(","), F + "1: not valid YAML: unexpected token");
  EXPECT_EQ(error("region: eu\n\n,\n"), F + "3: not valid YAML: end of map not found");
  EXPECT_EQ(error("region: eu\n---\n,\n"), F + "2: expected one YAML document, found several");
  EXPECT_EQ(error("# comment\n\n,\n"), F + "3: not valid YAML: unexpected token");
  EXPECT_EQ(error(std::string("\0,", 2)), F + "1: not valid YAML: unexpected token");
  EXPECT_EQ(error("[region, eu]: 1\n"), F + "1: expected a key name, got a list");
}

TEST_F(ConfigErrors, UnreadableFile) {
  EXPECT_EQ(error_at(dir_ + "/absent.yaml"), "DIR/absent.yaml: cannot read: No such file or directory");
  EXPECT_EQ(error_at(dir_), "DIR: cannot read: Is a directory");
}

TEST(ConfigFromString, RejectsHugeInput) {
  try {
    load_config_from_string(std::string((1 << 20) + 1, '#'), "big.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError &e) {
    EXPECT_STREQ(e.what(), "big.yaml:1: larger than 1 MiB (1048577 bytes): not a config file");
  }
}

}  // namespace
}  // namespace edgekey::daemon::test
