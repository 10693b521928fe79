// edgekeyctl nats init-origin / init-region against real nats-server
// processes: they create the bucket and the regions' mirrors, a second run
// changes nothing, a file upstream or a missing domain is a usage error
// naming the config key, and an unreachable server exits 4 naming it.
#include "nats_harness.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace edgekey::ctl::test {
namespace {

// The topology's upstream block with another bucket, which nobody created yet.
std::string with_bucket(std::string yaml, const std::string &bucket) {
  const std::string from = "bucket: keys";
  yaml.replace(yaml.find(from), from.size(), "bucket: " + bucket);
  return yaml;
}

TEST(NatsInit, CreatesBucketAndMirrorsOnceAndMirrorsFollow) {
  edgekey::test::NatsTopology topo({"in", "us"});
  std::string why;
  ASSERT_TRUE(topo.start(&why)) << why;
  Scratch s("", with_bucket(topo.upstream_yaml(topo.region(0)), "fresh"));

  const RunResult first = s.ctl({"nats", "init-origin"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out.rfind("created bucket \"fresh\" in domain \"eu\"", 0), 0u) << first.out;
  const RunResult second = s.ctl({"nats", "init-origin"});
  EXPECT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out, "bucket \"fresh\" in domain \"eu\" already exists; nothing to do\n"
                        "bucket \"usage\" in domain \"eu\" (keys' last use) already exists\n");
  const RunResult js = s.ctl({"--json", "nats", "init-origin"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  const auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j.at("result"), "exists");
  EXPECT_EQ(j.at("bucket"), "fresh");
  EXPECT_EQ(j.at("domain"), "eu");
  EXPECT_EQ(j.at("servers"), nlohmann::json::array({topo.region(0).url()}));
  EXPECT_EQ(j.at("usage_bucket"), "usage");
  EXPECT_EQ(j.at("usage_result"), "exists");

  const RunResult region = s.ctl({"nats", "init-region"});  // this host's region: in
  ASSERT_EQ(region.exit_code, 0) << region.err;
  EXPECT_EQ(region.out, "created stream \"KV_fresh\" in domain \"in\", mirroring bucket \"fresh\" of domain \"eu\"\n");
  EXPECT_EQ(region.err, "");
  const RunResult us = s.ctl({"--json", "nats", "init-region", "us"});  // another region, by name
  ASSERT_EQ(us.exit_code, 0) << us.err;
  EXPECT_EQ(nlohmann::json::parse(us.out).at("result"), "created");
  EXPECT_EQ(nlohmann::json::parse(us.out).at("domain"), "us");
  const RunResult again = s.ctl({"nats", "init-region", "us"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already exists"), std::string::npos) << again.out;

  // A key written at the origin reaches both mirrors with its sequence.
  const RunResult created = s.ctl({"--json", "keys", "create", "--workspace", "w", "--type", "secret", "--env",
                                   "live", "--role", "viewer"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  for (size_t i = 0; i < 2; ++i) {
    auto o = topo.options(topo.region(i));
    o.bucket = "fresh";
    o.stream = "KV_fresh";
    sync::NatsClient c(o, "ctl-test");
    sync::StreamState st;
    EXPECT_TRUE(eventually([&] {
      st = sync::region_stream_state(c, o);
      return st.last_seq == 1 && st.messages == 1;
    })) << o.domain << ": last_seq " << st.last_seq;
    EXPECT_TRUE(st.is_mirror);
  }
}

TEST(NatsInit, RegionBeforeOriginWarnsAndStillCreates) {
  edgekey::test::NatsTopology topo({"in"});
  std::string why;
  ASSERT_TRUE(topo.start(&why)) << why;
  Scratch s("", with_bucket(topo.upstream_yaml(topo.region(0)), "later"));
  const RunResult r = s.ctl({"nats", "init-region"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("bucket \"later\" does not exist in domain \"eu\" yet"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nats init-origin"), std::string::npos) << r.err;
}

TEST(NatsInit, FileUpstreamAndMissingDomainsAreUsageErrorsNamingTheKey) {
  Scratch file;
  for (const char *cmd : {"init-origin", "init-region"}) {
    const RunResult r = file.ctl({"nats", cmd});
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_NE(r.err.find("nats " + std::string(cmd) + " needs a NATS upstream, but " + file.config() +
                         " sets upstream.file"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("upstream.nats.servers"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }

  // No server needs to run for these: the config is refused first.
  Scratch no_domain("", "upstream:\n  nats:\n    servers: [nats://127.0.0.1:1]\n    origin_domain: eu\n");
  const RunResult r = no_domain.ctl({"nats", "init-region"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("set upstream.nats.domain in " + no_domain.config()), std::string::npos) << r.err;
  const RunResult same = no_domain.ctl({"nats", "init-region", "eu"});
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_NE(same.err.find("upstream.nats.origin_domain"), std::string::npos) << same.err;
  const RunResult bad = no_domain.ctl({"nats", "init-region", "in.mum"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("\"in.mum\""), std::string::npos) << bad.err;

  Scratch no_origin("", "upstream:\n  nats:\n    servers: [nats://127.0.0.1:1]\n    domain: in\n");
  const RunResult o = no_origin.ctl({"nats", "init-region"});
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.err.find("upstream.nats.origin_domain"), std::string::npos) << o.err;
}

TEST(NatsInit, UnreachableServerExits4NamingIt) {
  Scratch s("", "upstream:\n  nats:\n    servers: [nats://127.0.0.1:1]\n    origin_domain: eu\n    domain: in\n"
                "    request_timeout: 200ms\n");
  for (const std::vector<std::string> &args :
       {std::vector<std::string>{"nats", "init-origin"}, {"nats", "init-region"}, {"keys", "list"},
        {"keys", "show", "key_x"}, {"keys", "revoke", "key_x"},
        {"keys", "create", "--workspace", "w", "--type", "secret", "--env", "live", "--role", "viewer"}}) {
    const RunResult r = s.ctl(args);
    EXPECT_EQ(r.exit_code, 4) << args[1] << ": " << r.err;
    EXPECT_NE(r.err.find("nats://127.0.0.1:1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("check upstream.nats.servers"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(NatsInit, HelpListsTheExitCodes) {
  for (const std::vector<std::string> &cmd : {std::vector<std::string>{"nats"}, {"nats", "init-origin"},
                                              {"nats", "init-region"}})
    EXPECT_TRUE(help_prints(cmd, {"Exit codes:", "NATS upstream does not answer"}));
  EXPECT_NE(run_ctl({"nats", "init-region", "--help"}).out.find("upstream.nats.domain"), std::string::npos);
  EXPECT_EQ(run_ctl({"nats"}).exit_code, 2);
}

}  // namespace
}  // namespace edgekey::ctl::test
