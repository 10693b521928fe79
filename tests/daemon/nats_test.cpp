// edgekeyd following NATS JetStream (issue #4): real nats-server processes
// (an origin hub and leaf regions, tests/support/nats_servers.hpp) and the
// real edgekeyd binary. Origin writes go straight to the KV bucket, the way
// edgekeyctl writes them; answers are read over the daemon's socket.
#include "daemon_fixture.hpp"
#include "nats_origin.hpp"
#include "nats_servers.hpp"
#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <nlohmann/json.hpp>

namespace edgekey::test {
namespace {

std::string code_of(DaemonProcess &d, const std::string &token) {
  return d.validate(token).header("X-Edgekey-Code").value_or("(no answer)");
}

bool answers(DaemonProcess &d, const std::string &token, const std::string &code,
             std::chrono::milliseconds limit = 10000ms) {
  return eventually([&] { return code_of(d, token) == code; }, limit);
}

nlohmann::json nats_status(DaemonProcess &d) {
  auto r = d.get("/v1/status");
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_object() ? j["nats"] : nlohmann::json();
}

struct Region {
  NatsTopology topo;
  std::unique_ptr<Origin> origin;
  explicit Region(std::vector<std::string> regions = {"in"}) : topo(std::move(regions)) {}
  bool start() {
    origin = start_with_origin(topo);
    return origin != nullptr;
  }
  std::unique_ptr<DaemonProcess> daemon(size_t region, const std::string &extra = "") {
    return std::make_unique<DaemonProcess>(extra, topo.upstream_yaml(topo.region(region)));
  }
};

TEST(NatsDaemon, ColdSnapshotThenLiveChangesAndRevocation) {
  Region r;
  ASSERT_TRUE(r.start());
  std::vector<MintedKey> keys;
  for (int i = 0; i < 50; ++i) {
    keys.push_back(mint_key("key_snap" + std::to_string(i)));
    r.origin->put(keys.back().record);
  }
  auto d = r.daemon(0);
  d->start_ready();
  for (const auto &k : keys) EXPECT_EQ(code_of(*d, k.token), "ok") << k.record.id;
  EXPECT_EQ(nats_status(*d)["snapshots_loaded"], 1);

  MintedKey live = mint_key("key_live");
  r.origin->put(live.record);
  EXPECT_TRUE(answers(*d, live.token, "ok")) << d->log();

  r.origin->revoke(keys[3].record);
  EXPECT_TRUE(answers(*d, keys[3].token, "revoked_key")) << d->log();
  r.origin->remove(keys[4].record.id);
  EXPECT_TRUE(answers(*d, keys[4].token, "unknown_key")) << d->log();
  EXPECT_EQ(code_of(*d, keys[5].token), "ok");

  // The origin stamps its write time: the propagation histogram counts the live changes.
  auto metrics = d->get("/metrics").body;
  EXPECT_NE(metrics.find("edgekey_upstream_propagation_seconds_count{region=\"in-mum\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("edgekey_upstream_connected 1"), std::string::npos);
}

TEST(NatsDaemon, EmptyStreamIsACompleteLoad) {
  Region r;
  ASSERT_TRUE(r.start());
  auto d = r.daemon(0);
  d->start_ready();
  MintedKey k = mint_key("key_first");
  r.origin->put(k.record);
  EXPECT_TRUE(answers(*d, k.token, "ok")) << d->log();
}

TEST(NatsDaemon, RegionScoping) {
  Region r({"in", "us"});
  ASSERT_TRUE(r.start());
  MintedKey in_only = mint_key("key_in_only"), everywhere = mint_key("key_all");
  in_only.record.regions = {"in-mum"};
  r.origin->put(in_only.record);
  r.origin->put(everywhere.record);
  auto in = r.daemon(0);
  auto us = r.daemon(1);
  us->region = "us-east";
  us->write_config("");
  in->start_ready();
  us->start_ready();
  EXPECT_EQ(code_of(*in, in_only.token), "ok");
  EXPECT_EQ(code_of(*us, in_only.token), "wrong_region");  // documented: present as a wrong_region marker
  EXPECT_EQ(code_of(*us, everywhere.token), "ok");
  EXPECT_EQ(code_of(*in, everywhere.token), "ok");
  // Revoked at the origin: refused in both regions.
  r.origin->revoke(everywhere.record);
  EXPECT_TRUE(answers(*in, everywhere.token, "revoked_key"));
  EXPECT_TRUE(answers(*us, everywhere.token, "revoked_key"));
}

TEST(NatsDaemon, MalformedRecordsAreRejectedAndTheRestApplied) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey good = mint_key("key_good"), later = mint_key("key_later");
  r.origin->put(good.record);
  r.origin->put_raw("key_garbage", "{not json");
  sync::KeyRecord wrong_type = mint_key("key_badtype").record;
  std::string text = sync::encode_record_json(wrong_type);
  text.replace(text.find("\"secret\""), 8, "\"admin\"");
  r.origin->put_raw("key_badtype", text);
  auto d = r.daemon(0);
  d->start_ready();
  EXPECT_EQ(code_of(*d, good.token), "ok");

  // Live: a good key whose next version is malformed keeps its good version.
  std::string broken = sync::encode_record_json(good.record);
  broken.replace(broken.find("\"secret\""), 8, "\"admin\"");
  r.origin->put_raw("key_good", broken);
  r.origin->put_raw("key_other", sync::encode_record_json(mint_key("key_mismatch").record));
  r.origin->put(later.record);
  EXPECT_TRUE(answers(*d, later.token, "ok"));
  EXPECT_EQ(code_of(*d, good.token), "ok");
  const std::string log = d->log();
  EXPECT_NE(log.find("key_garbage"), std::string::npos) << log;
  EXPECT_NE(log.find("field \"type\""), std::string::npos) << log;
  EXPECT_NE(log.find("carries id \"key_mismatch\""), std::string::npos) << log;
  EXPECT_EQ(nats_status(*d)["records_rejected"], 4) << log;
}

TEST(NatsDaemon, WarmRestartResumesWithoutASnapshot) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey a = mint_key("key_a"), b = mint_key("key_b"), c = mint_key("key_c");
  r.origin->put(a.record);
  auto d = r.daemon(0);
  d->start_ready();
  r.origin->put(b.record);
  ASSERT_TRUE(answers(*d, b.token, "ok"));
  d->stop();  // writes its snapshot on the way out
  r.origin->put(c.record);
  r.origin->revoke(a.record);
  d->start_ready();
  EXPECT_TRUE(answers(*d, c.token, "ok")) << d->log();
  EXPECT_TRUE(answers(*d, a.token, "revoked_key"));
  EXPECT_EQ(code_of(*d, b.token), "ok");
  auto st = nats_status(*d);
  EXPECT_EQ(st["snapshots_loaded"], 0) << st.dump();
  EXPECT_EQ(st["messages_applied"], 2) << st.dump();  // exactly the two changes made while it was down
}

TEST(NatsDaemon, RegionalServerKilledMidStreamLosesNothing) {
  Region r;
  ASSERT_TRUE(r.start());
  auto d = r.daemon(0);
  d->start_ready();
  std::vector<MintedKey> keys;
  for (int i = 0; i < 20; ++i) {
    keys.push_back(mint_key("key_k" + std::to_string(i)));
    r.origin->put(keys.back().record);
  }
  ASSERT_TRUE(answers(*d, keys.back().token, "ok"));
  r.topo.region(0).kill_hard();
  for (int i = 20; i < 60; ++i) {  // written while the region's server is down
    keys.push_back(mint_key("key_k" + std::to_string(i)));
    r.origin->put(keys.back().record);
  }
  for (int i = 0; i < 10; ++i) r.origin->revoke(keys[size_t(i)].record);
  std::string why;
  ASSERT_TRUE(r.topo.region(0).start(&why)) << why;
  EXPECT_TRUE(answers(*d, keys[9].token, "revoked_key", 30000ms)) << d->log();
  EXPECT_TRUE(answers(*d, keys.back().token, "ok", 30000ms)) << d->log();
  for (size_t i = 0; i < keys.size(); ++i)
    EXPECT_EQ(code_of(*d, keys[i].token), i < 10 ? "revoked_key" : "ok") << keys[i].record.id;
  auto st = nats_status(*d);
  // Each of the 70 writes applied once: none lost, none twice, no resnapshot.
  EXPECT_EQ(st["messages_applied"], 70) << st.dump() << d->log();
  EXPECT_EQ(st["snapshots_loaded"], 1) << st.dump();
}

TEST(NatsDaemon, OriginDownRegionsServeAndCatchUp) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey a = mint_key("key_a"), b = mint_key("key_b");
  r.origin->put(a.record);
  auto d = r.daemon(0, "staleness:\n  max: 1s\n  policy: fail_closed\n");
  d->start_ready();
  r.origin.reset();
  r.topo.hub().kill_hard();
  // The region's own server still answers: contact continues, nothing goes stale.
  const int64_t before = nats_status(*d)["messages_applied"];
  EXPECT_FALSE(eventually([&] { return code_of(*d, a.token) != "ok"; }, 3000ms)) << d->log();
  std::string why;
  ASSERT_TRUE(r.topo.hub().start(&why)) << why;
  r.origin = std::make_unique<Origin>(r.topo.origin_options());
  r.origin->put(b.record);
  EXPECT_TRUE(answers(*d, b.token, "ok", 30000ms)) << d->log();
  EXPECT_EQ(nats_status(*d)["messages_applied"], before + 1);
}

// The staleness scenario: edgekeyd (staleness max 1s, then `policy`) serving
// key `a` from region 0's server, which is then killed.
std::unique_ptr<DaemonProcess> serving_then_cut_off(Region &r, const MintedKey &a, const std::string &policy) {
  r.origin->put(a.record);
  auto d = r.daemon(0, "staleness:\n  max: 1s\n  policy: " + policy + "\n");
  d->start_ready();
  r.topo.region(0).kill_hard();
  return d;
}

TEST(NatsDaemon, StalenessPolicyFailClosed) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey a = mint_key("key_a");
  auto d = serving_then_cut_off(r, a, "fail_closed");
  EXPECT_TRUE(answers(*d, a.token, "keyset_stale", 10000ms)) << d->log();
  std::string why;
  ASSERT_TRUE(r.topo.region(0).start(&why)) << why;
  EXPECT_TRUE(answers(*d, a.token, "ok", 30000ms)) << d->log();
}

TEST(NatsDaemon, StalenessPolicyServeStale) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey a = mint_key("key_a");
  auto d = serving_then_cut_off(r, a, "serve_stale");
  // Stale (no contact for > 1 s) and still served.
  ASSERT_TRUE(eventually([&] { return nats_status(*d)["connected"] == false; }, 10000ms));
  ASSERT_TRUE(eventually([&] {
    auto s = nlohmann::json::parse(d->get("/v1/status").body, nullptr, false);
    return s.is_object() && s["upstream"]["last_contact_age_seconds"].is_number() &&
           s["upstream"]["last_contact_age_seconds"].get<int64_t>() >= 2;
  }, 10000ms)) << d->get("/v1/status").body << d->log();
  EXPECT_EQ(code_of(*d, a.token), "ok");
}

TEST(NatsDaemon, RecreatedStreamResyncRemovesDroppedKeys) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey keep = mint_key("key_keep"), drop = mint_key("key_drop");
  r.origin->put(keep.record);
  r.origin->put(drop.record);
  for (int i = 0; i < 5; ++i) r.origin->put(mint_key("key_pad" + std::to_string(i)).record);
  auto d = r.daemon(0);
  d->start_ready();
  ASSERT_EQ(code_of(*d, drop.token), "ok");

  // The origin bucket and the region's mirror are deleted and made again
  // with fewer keys: the sequences restart below the daemon's.
  r.origin.reset();
  {
    sync::NatsClient hub(r.topo.origin_options(), "test-admin");
    ASSERT_EQ(js_DeleteKeyValue(hub.origin(), "keys"), NATS_OK);
    auto ro = r.topo.options(r.topo.region(0));
    sync::NatsClient region(ro, "test-admin");
    ASSERT_EQ(js_DeleteStream(region.region(), "KV_keys", nullptr, nullptr), NATS_OK);
    sync::init_origin(hub, r.topo.origin_options());
    r.origin = std::make_unique<Origin>(r.topo.origin_options());
    r.origin->put(keep.record);
    sync::init_region(region, ro);
  }
  EXPECT_TRUE(answers(*d, drop.token, "unknown_key", 30000ms)) << d->log();
  EXPECT_EQ(code_of(*d, keep.token), "ok");
  EXPECT_GE(nats_status(*d)["snapshots_loaded"].get<int>(), 2);
}

TEST(NatsDaemon, UnreachableWithSnapshotServesIt) {
  Region r;
  ASSERT_TRUE(r.start());
  MintedKey a = mint_key("key_a");
  r.origin->put(a.record);
  auto d = r.daemon(0);
  d->start_ready();
  d->stop();
  r.topo.region(0).kill_hard();
  d->start_ready();
  EXPECT_EQ(code_of(*d, a.token), "ok");
  EXPECT_NE(d->log().find("serving 1 keys from the snapshot"), std::string::npos) << d->log();
}

TEST(NatsDaemon, BadNatsConfigNamesTheSetting) {
  DaemonProcess d("", "upstream:\n  nats:\n    servers: [http://127.0.0.1:4222]\n");
  d.start();
  EXPECT_FALSE(d.wait_notify("READY=1", 5000ms));
  EXPECT_NE(d.log().find("upstream.nats.servers"), std::string::npos) << d.log();
}

}  // namespace
}  // namespace edgekey::test
