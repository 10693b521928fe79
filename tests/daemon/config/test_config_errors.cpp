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

// One mistake in the design's example: `from` replaced by `to`, and the
// message after "DIR/edgekey.yaml:".
struct ExampleMistake {
  std::string from, to, want;
};
const ExampleMistake kExampleMistakes[] = {
    // StalenessPolicy
    {"policy: serve_stale", "policy: fail_open", "17: staleness.policy: expected serve_stale or fail_closed, got \"fail_open\""},
    // StalenessMax
    {"max: 60s", "max: 10", "16: staleness.max: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got \"10\""},
    {"max: 60s", "max: 1500ms", "16: staleness.max: expected a whole number of seconds, got \"1500ms\""},
    {"max: 60s", "max: 0s", "16: staleness.max: expected a duration from 1s to 4294967295s, got \"0s\""},
    {"max: 60s", "max: [60s]", "16: staleness.max: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got a list"},
    // KeyPrefixLegacyHash
    {"key_prefix: ek", "key_prefix: EK", "2: key_prefix: expected a key prefix of [a-z][a-z0-9]{1,15}, got \"EK\""},
    {"key_prefix: ek", "key_prefix: e", "2: key_prefix: expected a key prefix of [a-z][a-z0-9]{1,15}, got \"e\""},
    {"legacy_tokens: false", "legacy_tokens: yes", "3: legacy_tokens: expected true or false, got \"yes\""},
    {"hash: sha256", "hash: md5", "4: hash: expected sha256 or hmac-sha256, got \"md5\""},
    {"hash: sha256", "hash: hmac-sha256", "4: pepper_file: required with hash: hmac-sha256"},
    {"hash: sha256 ", "hash: sha256\npepper_file: /etc/edgekey/pepper ", "5: pepper_file: only used with hash: hmac-sha256"},
    // Region
    {"region: in-mum", "region: In_Mum", "1: region: expected a region name of [a-z0-9-], at most 63 bytes, such as in-mum, got \"In_Mum\""},
    // Table
    {"capacity: 1000000", "capacity: 0", "7: table.capacity: expected an integer in 1..268435456, got \"0\""},
    {"capacity: 1000000", "capacity: -5", "7: table.capacity: expected an integer in 1..268435456, got \"-5\""},
    {"capacity: 1000000", "capacity: 1e6", "7: table.capacity: expected an integer in 1..268435456, got \"1e6\""},
    {"capacity: 1000000", "capacity: 99999999999999999999999", "7: table.capacity: expected an integer in 1..268435456, got \"99999999999999999999999\""},
    {"mode: \"0640\"", "mode: 640", "9: table.mode: expected an octal file mode such as \"0640\", got \"640\""},
    {"mode: \"0640\"", "mode: \"0648\"", "9: table.mode: expected an octal file mode such as \"0640\", got \"0648\""},
    {"mode: \"0640\"", "mode: \"0642\"", "9: table.mode: must not be world-writable (readers map the table read-only)"},
    {"name: edgekey-in-mum", "name: /edgekey", "6: table.name: expected a shared-memory name of 1..200 characters [A-Za-z0-9_.-] without '/', got \"/edgekey\""},
    {"readers_group: edgekey-readers", "readers_group: Bad Group", "8: table.readers_group: expected a group name such as edgekey-readers (or \"\"), got \"Bad Group\""},
    // SocketSnapshotLogLevel
    {"path: /run/edgekey/edgekeyd.sock", "path: /run/" + std::string(115, 'x'), "11: socket.path: expected a path of at most 107 bytes, got 120 bytes"},
    {"mode: \"0660\"", "mode: rw", "12: socket.mode: expected an octal file mode such as \"0640\", got \"rw\""},
    {"log_level: info", "log_level: verbose", "19: log_level: expected debug, info, warn or error, got \"verbose\""},
    {"snapshot: /var/lib/edgekey/snapshot", "snapshot: \"\"", "18: snapshot: expected a file path, got \"\""},
    {"snapshot: /var/lib/edgekey/snapshot", "snapshot:", "18: snapshot: expected a file path, got nothing"},
    {"snapshot: /var/lib/edgekey/snapshot", "snapshot: {a: 1}", "18: snapshot: expected a file path, got a mapping"},
    // UnknownNestedKey
    {"  name: edgekey-in-mum", "  nmae: edgekey-in-mum", "6: table.nmae: unknown key; valid keys under table: name, capacity, readers_group, mode, huge_pages, directory"},
    {"  policy: serve_stale", "  polcy: serve_stale", "17: staleness.polcy: unknown key; valid keys under staleness: max, policy"},
};

TEST_F(ConfigErrors, EachMistakeInTheExampleIsOneLineNamingIt) {
  for (const ExampleMistake &m : kExampleMistakes)
    EXPECT_EQ(example_error(m.from, m.to), F + m.want) << "with " << m.to;
}

// A whole file with a mistake, and the message after "DIR/edgekey.yaml:".
struct FileMistake {
  std::string text, want;
};
const FileMistake kFileMistakes[] = {
    // KeyPrefixLegacyHash
    {"region: eu\npepper_file: /p\n", "2: pepper_file: only used with hash: hmac-sha256"},
    // Region
    {"key_prefix: ek\n", "1: region: required (e.g. region: in-mum)"},
    {"", "1: region: required (e.g. region: in-mum)"},
    {"# nothing but a comment\n", "1: region: required (e.g. region: in-mum)"},
    {"log_level: info\nregion: [a, b]\n", "2: region: expected a region name, got a list"},
    // Table
    {"region: eu\ntable: 5\n", "2: table: expected a mapping, got \"5\""},
    // SocketSnapshotLogLevel
    {"region: eu\nupstream:\nlog_level: info\n", "2: upstream: expected file: PATH or nats: {...}, got neither"},
    // Limits
    {"region: eu\nlimits:\n  max_connections: 0\n", "3: limits.max_connections: expected an integer in 1..1048576, got \"0\""},
    {"region: eu\nlimits:\n  max_header_bytes: 100\n", "3: limits.max_header_bytes: expected an integer in 1024..1048576, got \"100\""},
    {"region: eu\nlimits:\n  idle_timeout: 5x\n", "3: limits.idle_timeout: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got \"5x\""},
    {"region: eu\nlimits:\n\n  request_timeout: 0s\n", "4: limits.request_timeout: expected a duration from 1ms to 1d, got \"0s\""},
    {"region: eu\nlimits:\n  watchdog: 10s\n", "3: limits.watchdog: unknown key; valid keys under limits: max_connections, max_header_bytes, max_body_bytes, idle_timeout, request_timeout"},
    // UnknownTopLevelKeyNamesTheValidOnes
    {"region: eu\nregoin: in-mum\n", "2: regoin: unknown key; valid keys: region, key_prefix, legacy_tokens, hash, pepper_file, table, socket, upstream, staleness, snapshot, log_level, limits, permissions, publishable, roles"},
    // DuplicateKey
    {"region: eu\nlog_level: info\nlog_level: debug\n", "3: log_level: duplicate key (first at line 2)"},
    {"region: eu\ntable:\n  capacity: 8\n  capacity: 16\n", "4: table.capacity: duplicate key (first at line 3)"},
    // NotYaml
    {"region: eu\nroles: {a: [b}\n", "2: not valid YAML: illegal flow end"},
    {"region: eu\n  table: x\n", "2: not valid YAML: illegal map value"},
    {"region: eu\n\tlog_level: info\n", "2: not valid YAML: illegal tab when looking for indentation"},
    {"region: eu\nlog_level: *lvl\n", "2: not valid YAML: the referenced anchor is not defined"},
    {"- a\n- b\n", "1: expected a mapping, got a list"},
    {"hello\n", "1: expected a mapping, got \"hello\""},
    {"region: eu\n---\nregion: us\n", "2: expected one YAML document, found several"},
    // Inputs on which yaml-cpp 0.7's LoadAll loops forever (upstream issue #1040).
    {",", "1: not valid YAML: unexpected token"},
    {"region: eu\n\n,\n", "3: not valid YAML: end of map not found"},
    {"region: eu\n---\n,\n", "2: expected one YAML document, found several"},
    {"# comment\n\n,\n", "3: not valid YAML: unexpected token"},
    {std::string("\0,", 2), "1: not valid YAML: unexpected token"},
    {"[region, eu]: 1\n", "1: expected a key name, got a list"},
};

TEST_F(ConfigErrors, EachMistakeInAFileIsOneLineNamingIt) {
  for (const FileMistake &m : kFileMistakes) EXPECT_EQ(error(m.text), F + m.want) << "in " << m.text;
}

TEST_F(ConfigErrors, UnknownTopLevelKeyNamesTheValidOnes) {
  EXPECT_TRUE(StartsWith(error("region: eu\nwatchdog: 10s\n"), F + "2: watchdog: unknown key; valid keys: "));
}

TEST_F(ConfigErrors, KeysWithControlCharactersStayOnOneLine) {
  EXPECT_TRUE(StartsWith(error("region: eu\n\"a\\nb\": 1\n"), F + "2: a\\x0ab: unknown key; valid keys: "));
}

TEST_F(ConfigErrors, NotYaml) {
  const std::string unclosed = error("region: eu\nroles: [a, b\nlog_level: info\n");
  EXPECT_EQ(unclosed.rfind(F, 0), 0u) << unclosed;
  EXPECT_NE(unclosed.find(": not valid YAML: "), std::string::npos) << unclosed;
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
