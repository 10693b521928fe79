// edgekeyctl's command line: help, usage errors, config discovery, exit codes.
#include "harness.hpp"

#include <gtest/gtest.h>

namespace edgekey::ctl::test {
namespace {

TEST(Cli, HelpEverywhereListsTheExitCodes) {
  for (const std::vector<std::string> &cmd :
       {std::vector<std::string>{}, {"keys"}, {"keys", "create"}, {"keys", "list"}, {"keys", "show"},
        {"keys", "revoke"}, {"keys", "rotate"}, {"validate"}, {"status"}})
    EXPECT_TRUE(help_prints(cmd, {"Exit codes:", "4  edgekeyd is unreachable", "EDGEKEY_CONFIG"}));
  EXPECT_NE(run_ctl({"keys", "create", "--help"}).out.find("--allow-origin"), std::string::npos);
}

TEST(Cli, UsageErrorsExit2) {
  Scratch s;
  for (const std::vector<std::string> &args :
       {std::vector<std::string>{}, {"keys"}, {"frobnicate"}, {"keys", "show"},
        {"keys", "create", "--workspace", "w", "--env", "live", "--role", "viewer"},
        {"keys", "create", "--workspace", "w", "--type", "secret", "--env", "prod", "--role", "viewer"},
        {"keys", "create", "--workspace", "w", "--type", "secret", "--env", "live", "--role", "viewer", "--scope", "a",
         "b"},
        {"validate"}, {"validate", "tok", "--timeout", "soon"}, {"status", "--timeout", "0s"}}) {
    const RunResult r = s.ctl(args);
    EXPECT_EQ(r.exit_code, 2) << (args.empty() ? "" : args[0]) << ": " << r.err;
    EXPECT_EQ(r.err.rfind("edgekeyctl: ", 0), 0u) << r.err;
    EXPECT_EQ(r.out, "");
  }
  EXPECT_FALSE(file_exists(s.keyset()));
}

TEST(Cli, BadConfigExits2NamingFileAndLine) {
  Scratch s;
  write_file(s.config(), "region: in-mum\nkey_prefx: ek\n");
  for (const std::vector<std::string> &args : {std::vector<std::string>{"keys", "list"}, {"status"}}) {
    const RunResult r = s.ctl(args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find(s.config() + ":2:"), std::string::npos) << r.err;
  }
}

TEST(Cli, MissingConfigExits2WithAHint) {
  const RunResult r = run_ctl({"--config", "/nonexistent/edgekey.yaml", "keys", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/edgekey.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--config FILE or set EDGEKEY_CONFIG"), std::string::npos) << r.err;
}

TEST(Cli, ConfigFromEnvironmentUnlessGivenOnTheCommandLine) {
  Scratch s;
  const RunResult env = run_ctl({"keys", "list"}, {"EDGEKEY_CONFIG=" + s.config()});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(env.out, "no keys\n");
  const RunResult flag = run_ctl({"--config", s.config(), "keys", "list"}, {"EDGEKEY_CONFIG=/nonexistent.yaml"});
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  const RunResult bad = run_ctl({"keys", "list"}, {"EDGEKEY_CONFIG=/nonexistent.yaml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("/nonexistent.yaml"), std::string::npos);
}

TEST(Cli, GlobalOptionsAfterTheSubcommand) {
  Scratch s;
  const RunResult r = run_ctl({"keys", "list", "--json", "--config", s.config()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"keys\":[]}\n");
}

}  // namespace
}  // namespace edgekey::ctl::test
