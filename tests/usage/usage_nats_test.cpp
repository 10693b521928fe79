// Keys' last use across regions over NATS (issue #19): real nats-servers
// (an origin hub and leaf regions), an edgekeyd per region publishing its
// keys' last use into the origin's usage bucket, and edgekeyctl reading it
// from the other region. A key is used through the library (ek_open /
// ek_validate, the public C API) in one region and through the socket in the
// other; everything is waited for by polling with a deadline.
#include "daemon/edgekeyd/usage_publisher.hpp"
#include "daemon_test_helpers.hpp"
#include "nats_origin.hpp"
#include "nats_servers.hpp"

#include <edgekey/edgekey.h>
#include <nlohmann/json.hpp>

#include <ctime>

namespace edgekey::test {
namespace {

constexpr const char *kInterval = "    usage_interval: 200ms\n";  // the test's publishing interval

int64_t now_s() { return int64_t(time(nullptr)); }

size_t count_of(const std::string &text, const std::string &needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// `n` validations of `token` through the library, each expected to be ok.
void use_through_library(const DaemonProcess &d, const std::string &token, int n) {
  ek_validator *v = nullptr;
  ASSERT_EQ(ek_open(d.address().c_str(), &v), 0);
  const std::string auth = "Bearer " + token;
  for (int i = 0; i < n; ++i) {
    ek_request q{auth.c_str(), nullptr, nullptr, nullptr, nullptr};
    ek_result r;
    ASSERT_EQ(ek_validate(v, &q, &r), 0);
    ASSERT_EQ(r.code, EK_CODE_OK);
  }
  ek_close(v);
}

struct Regions {
  NatsTopology topo;
  std::unique_ptr<Origin> origin;
  std::vector<std::unique_ptr<DaemonProcess>> daemons;

  explicit Regions(std::vector<std::string> regions) : topo(std::move(regions)) {}
  bool start() {
    origin = start_with_origin(topo);
    return origin != nullptr;
  }
  // edgekeyd in topology region `i` named `region`, publishing every 200 ms.
  DaemonProcess &daemon(size_t i, const std::string &region) {
    daemons.push_back(std::make_unique<DaemonProcess>("", topo.upstream_yaml(topo.region(i)) + kInterval));
    daemons.back()->region = region;
    daemons.back()->write_config("");
    return *daemons.back();
  }
};

Ran ctl_run(const DaemonProcess &d, std::vector<std::string> args) {
  args.insert(args.begin(), {EDGEKEYCTL_PATH, "--config", d.config});
  return run_process(args);
}

// `keys show ID --json` from `d`'s host; null when it failed or did not parse.
nlohmann::json show(const DaemonProcess &d, const std::string &id) {
  const Ran r = ctl_run(d, {"--json", "keys", "show", id});
  if (r.rc != 0) return nullptr;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(UsageNats, KeyUsedInOneRegionIsSeenFromTheOther) {
  Regions r({"in", "us"});
  ASSERT_TRUE(r.start());
  MintedKey used = mint_key("key_used"), idle = mint_key("key_idle");
  for (MintedKey *k : {&used, &idle}) {
    k->record.created_at = now_s() - 10 * 86400;
    r.origin->put(k->record);
  }
  DaemonProcess &in = r.daemon(0, "in-mum");
  DaemonProcess &us = r.daemon(1, "us-east");
  const Ran init = ctl_run(us, {"nats", "init-origin"});  // the keys bucket exists: this adds the usage bucket
  ASSERT_EQ(init.rc, 0) << init.err;
  EXPECT_NE(init.out.find("created bucket \"usage\" in domain \"eu\""), std::string::npos) << init.out;
  in.start_ready();
  us.start_ready();

  // Never used anywhere yet.
  nlohmann::json j = show(us, used.record.id);
  ASSERT_TRUE(j.is_object());
  EXPECT_TRUE(j["last_used_at"].is_null()) << j.dump();

  // Used through the library in in-mum: seen from us-east.
  ASSERT_NO_FATAL_FAILURE(use_through_library(in, used.token, 3));
  const int64_t used_at = now_s();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] {
    j = show(us, used.record.id);
    return j.is_object() && j["uses_last_day"] == 3;
  }, 20000ms)) << j.dump() << "\nin-mum's log:\n" << in.log();
  const auto seen_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  a use in in-mum seen from us-east after %lld ms (usage_interval 200ms)\n", (long long)seen_ms);
  RecordProperty("seen_after_ms", std::to_string(seen_ms));
  int64_t last = 0;
  ASSERT_TRUE(j["last_used_at"].is_string()) << j.dump();
  ASSERT_TRUE(sync::parse_time(j["last_used_at"].get<std::string>(), last));
  EXPECT_GE(last, used_at - 3);
  EXPECT_LE(last, used_at);
  EXPECT_EQ(j["last_used_region"], "in-mum") << j.dump();
  ASSERT_EQ(j["regions"].size(), 1u) << j.dump();
  EXPECT_EQ(j["regions"][0]["region"], "in-mum");
  EXPECT_EQ(j["regions"][0]["hosts"], 1);

  // --unused-since answers from us-east for in-mum's use.
  Ran unused = ctl_run(us, {"keys", "list", "--unused-since", "1d"});
  ASSERT_EQ(unused.rc, 0) << unused.err;
  EXPECT_NE(unused.out.find("key_idle"), std::string::npos) << unused.out;
  EXPECT_EQ(unused.out.find("key_used"), std::string::npos) << "used a moment ago in in-mum:\n" << unused.out;
  Ran list = ctl_run(us, {"keys", "list"});
  ASSERT_EQ(list.rc, 0) << list.err;
  const std::string row = list.out.substr(list.out.find("key_used"));
  EXPECT_NE(row.substr(0, row.find('\n')).find(sync::format_time(last) + " (in-mum)"), std::string::npos) << list.out;

  // A later use in us-east (through its socket): the latest use is there,
  // and each region keeps its own.
  ASSERT_TRUE(eventually([&] { return now_s() > last; }));  // a later second than in-mum's use
  EXPECT_EQ(us.validate(used.token).status, 200);
  ASSERT_TRUE(eventually([&] {
    j = show(in, used.record.id);
    return j.is_object() && j["last_used_region"] == "us-east";
  }, 20000ms)) << j.dump() << "\nus-east's log:\n" << us.log();
  ASSERT_EQ(j["regions"].size(), 2u) << j.dump();
  EXPECT_EQ(j["regions"][0]["region"], "us-east");
  EXPECT_EQ(j["regions"][1]["region"], "in-mum");
  EXPECT_EQ(j["uses_last_day"], 4) << j.dump();
  const Ran human = ctl_run(in, {"keys", "show", used.record.id});
  EXPECT_NE(human.out.find("by region:\n  us-east:"), std::string::npos) << human.out;
  EXPECT_NE(human.out.find("3 uses in the last day (1 host)"), std::string::npos) << human.out;

  unused = ctl_run(in, {"--json", "keys", "list", "--unused-since", "1d"});
  ASSERT_EQ(unused.rc, 0) << unused.err;
  const auto listed = nlohmann::json::parse(unused.out)["keys"];
  ASSERT_EQ(listed.size(), 1u) << unused.out;
  EXPECT_EQ(listed[0]["id"], "key_idle");
  EXPECT_TRUE(listed[0]["last_used_at"].is_null());

  for (DaemonProcess *d : {&in, &us}) {
    const std::string metrics = d->get("/metrics").body;
    EXPECT_GE(sample_value(metrics, "edgekey_usage_published_total"), 1) << metrics;
    EXPECT_EQ(sample_value(metrics, "edgekey_usage_publish_failures_total"), 0) << metrics;
    if (access("/usr/bin/promtool", X_OK) == 0) {  // scripts/deps installs it (prometheus)
      const std::string file = d->dir.file("metrics.txt");
      DaemonProcess::write_file(file, metrics);
      const Ran lint = run_process({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file});
      EXPECT_EQ(lint.rc, 0) << lint.out << lint.err;
    }
    const std::string log = d->log();
    EXPECT_EQ(log.find("not publishing"), std::string::npos) << log;
    EXPECT_EQ(log.find(used.record.id), std::string::npos) << "a key's use is never logged:\n" << log;
  }
}

TEST(UsageNats, MissingBucketIsReportedOnceAndUsesWaitForIt) {
  Regions r({"in"});
  ASSERT_TRUE(r.start());
  MintedKey k = mint_key("key_waits");
  r.origin->put(k.record);
  DaemonProcess &d = r.daemon(0, "in-mum");
  d.start_ready();
  EXPECT_EQ(d.validate(k.token).status, 200);
  const std::string missing = "the bucket does not exist: create it with `edgekeyctl nats init-origin`";
  ASSERT_TRUE(eventually([&] { return d.log().find(missing) != std::string::npos; })) << d.log();
  // Used again (a later second) while it is missing: still one line.
  const int64_t first = now_s();
  ASSERT_TRUE(eventually([&] { return now_s() > first; }));
  ASSERT_NO_FATAL_FAILURE(use_through_library(d, k.token, 1));

  const Ran unknown = ctl_run(d, {"keys", "list", "--unused-since", "1d"});
  EXPECT_EQ(unknown.rc, 5) << unknown.out << unknown.err;
  EXPECT_NE(unknown.err.find("bucket \"usage\" (keys' last use) in domain \"eu\" does not exist"), std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("edgekeyctl nats init-origin"), std::string::npos) << unknown.err;
  const Ran shown = ctl_run(d, {"keys", "show", k.record.id});  // the record still shows, its use unknown
  EXPECT_EQ(shown.rc, 0) << shown.err;
  EXPECT_NE(shown.out.find("last_used_at:    ? (the usage bucket is unreadable)"), std::string::npos) << shown.out;

  const Ran init = ctl_run(d, {"nats", "init-origin"});
  ASSERT_EQ(init.rc, 0) << init.err;
  nlohmann::json j;
  ASSERT_TRUE(eventually([&] {
    j = show(d, k.record.id);
    return j.is_object() && j["uses_last_day"] == 2;
  }, 20000ms)) << j.dump() << "\nlog:\n" << d.log();
  EXPECT_EQ(j["last_used_region"], "in-mum");
  const std::string log = d.log();
  // Tried every 200 ms while it was missing: logged once. (Right after the
  // bucket is created a put may go unanswered once: another cause, one line.)
  EXPECT_EQ(count_of(log, missing), 1u) << log;
  EXPECT_LE(count_of(log, "not publishing"), 2u) << log;
  EXPECT_NE(log.find("publishing keys' last use to bucket \"usage\" in domain \"eu\" again"), std::string::npos)
      << log;
  EXPECT_EQ(log.find(k.record.id), std::string::npos) << "a key's use is never logged:\n" << log;
}

// The publisher alone, against the region's leaf server: a key is put at
// most once per interval, with the latest value offered meanwhile, while
// other keys go at once.
TEST(UsageNats, PublisherPutsAKeyAtMostOncePerIntervalWithItsLatestValue) {
  NatsTopology topo({"in"});
  topo.usage_bucket = true;
  std::string why;
  ASSERT_TRUE(topo.start(&why)) << why;
  sync::NatsClient origin(topo.origin_options(), "test-usage-origin");
  kvStore *kv = nullptr;
  ASSERT_EQ(js_KeyValue(&kv, origin.origin(), "usage"), NATS_OK);
  {  // entries of keys unused that long (deleted keys, retired hosts) expire
    jsStreamInfo *si = nullptr;
    ASSERT_EQ(js_GetStreamInfo(&si, origin.origin(), "KV_usage", nullptr, nullptr), NATS_OK);
    EXPECT_EQ(si->Config->MaxAge, sync::kUsageEntryTtlS * 1000000000);
    jsStreamInfo_Destroy(si);
  }
  // The entry's uses_last_day (-1: none) and the bucket's last sequence.
  auto uses = [&](const std::string &id) -> int64_t {
    kvEntry *e = nullptr;
    if (kvStore_Get(&e, kv, (id + ".in-mum.h1").c_str()) != NATS_OK) return -1;
    std::string err;
    auto u = sync::decode_usage_value(kvEntry_Key(e), std::string_view(static_cast<const char *>(kvEntry_Value(e)),
                                                                        size_t(kvEntry_ValueLen(e))), &err);
    kvEntry_Destroy(e);
    EXPECT_TRUE(u.has_value()) << err;
    return u ? int64_t(u->uses_last_day) : -1;
  };
  auto last_seq = [&] {
    jsStreamInfo *si = nullptr;
    EXPECT_EQ(js_GetStreamInfo(&si, origin.origin(), "KV_usage", nullptr, nullptr), NATS_OK);
    const uint64_t seq = si ? si->State.LastSeq : 0;
    jsStreamInfo_Destroy(si);
    return seq;
  };
  auto entry = [](const std::string &id, uint64_t n) {
    return sync::UsageEntry{id, "in-mum", "h1", now_s(), n, now_s()};
  };

  daemon::UsagePublisher::Options po;
  po.nats = topo.options(topo.region(0));
  po.interval = 2000ms;
  std::mutex mu;
  std::string reported;
  daemon::UsagePublisher pub(po, [&](bool, const std::string &line) {
    std::lock_guard<std::mutex> lock(mu);
    reported += line + "\n";
  });
  const auto first_offer = std::chrono::steady_clock::now();
  pub.offer({entry("key_a", 1)});
  ASSERT_TRUE(eventually([&] { return uses("key_a") == 1; })) << reported;
  for (uint64_t n = 2; n <= 50; ++n) pub.offer({entry("key_a", n)});
  pub.offer({entry("key_b", 7)});
  ASSERT_TRUE(eventually([&] { return uses("key_b") == 7; })) << reported;
  if (std::chrono::steady_clock::now() - first_offer < po.interval) {  // else the interval passed: no claim
    EXPECT_EQ(uses("key_a"), 1) << "key_a put again within its interval";
    EXPECT_EQ(last_seq(), 2u);
  }
  ASSERT_TRUE(eventually([&] { return uses("key_a") == 50; })) << reported;
  EXPECT_EQ(last_seq(), 3u) << "key_a's 49 later values are one put";
  // The put is stored before its acknowledgement reaches the publisher's
  // counters: wait for the count, then check it is not more.
  EXPECT_TRUE(eventually([&] { return pub.stats().published >= 3u; }));
  const auto st = pub.stats();
  EXPECT_EQ(st.published, 3u);
  EXPECT_EQ(st.failed, 0u);
  EXPECT_EQ(st.waiting, 0u);
  EXPECT_EQ(reported, "");
  kvStore_Destroy(kv);
}

}  // namespace
}  // namespace edgekey::test
