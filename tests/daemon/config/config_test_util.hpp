// config_test_util.hpp -- a temporary directory for config files, and
// helpers that return what loading one produced.
#pragma once

#include "daemon/config/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace edgekey::daemon::test {

// The example edgekey.yaml of the original design document, verbatim.
inline const std::string kDesignExample = R"(region: in-mum
key_prefix: ek                  # tokens look like ek_sk_live_…
legacy_tokens: false            # also accept tokens of other shapes (looked up by hash)
hash: sha256                    # or hmac-sha256, with pepper_file: /etc/edgekey/pepper
table:
  name: edgekey-in-mum          # POSIX shared-memory name
  capacity: 1000000             # initial slots; the table grows on demand
  readers_group: edgekey-readers
  mode: "0640"
socket:
  path: /run/edgekey/edgekeyd.sock
  mode: "0660"
upstream:
  file: /etc/edgekey/keys.yaml  # the embedded default; or `nats:` (see NATS.md)
staleness:
  max: 60s
  policy: serve_stale           # or fail_closed
snapshot: /var/lib/edgekey/snapshot
log_level: info
permissions: [chat:write, agents:read, agents:write, agents:deploy, logs:read,
              evaluations:read, analytics:read, keys:manage, billing:manage]   # at most 64
publishable: [chat:write]       # the most a pk key can ever hold
roles:
  owner: ["*"]
  developer: [agents:read, agents:write, agents:deploy, chat:write, logs:read]
  analyst: [agents:read, evaluations:read, analytics:read]
  viewer: [agents:read]
)";

// `text` with the first occurrence of `from` replaced by `to`; fails the
// test when `from` is absent (so a stale fixture cannot pass silently).
inline std::string replaced(std::string text, const std::string &from, const std::string &to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << "fixture lacks: " << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

// True if `text` starts with `prefix` (for messages that go on to list keys).
inline ::testing::AssertionResult StartsWith(const std::string &text, const std::string &prefix) {
  if (text.rfind(prefix, 0) == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not start with \"" << prefix << "\"";
}

class ConfigDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const char *tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/edgekey-config-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string write(const std::string &text, const std::string &name = "edgekey.yaml") {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    return path;
  }

  Config load(const std::string &text) { return load_config(write(text)); }

  // The ConfigError message of loading `text` from dir/edgekey.yaml, with
  // the directory replaced by "DIR"; "" (and a test failure) if it loaded.
  std::string error(const std::string &text) { return error_at(write(text)); }

  std::string error_at(const std::string &path) {
    try {
      load_config(path);
    } catch (const ConfigError &e) {
      std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
      if (msg.rfind(dir_, 0) == 0) msg = "DIR" + msg.substr(dir_.size());
      return msg;
    }
    ADD_FAILURE() << "loaded without error: " << path;
    return "";
  }

  std::string dir_;
};

}  // namespace edgekey::daemon::test
