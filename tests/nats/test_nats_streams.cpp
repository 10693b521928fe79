// The origin bucket and a region's mirror (sync/upstream/nats/nats_streams), on real
// nats-server processes: a put at the origin shows up in the mirror with
// the origin's sequence; set-up is idempotent; wrong settings are refused.
#include "eventually.hpp"
#include "nats_servers.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace edgekey::test {
namespace {

TEST(NatsStreams, MirrorFollowsOriginWithItsSequences) {
  NatsTopology t({"in"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;

  sync::NatsClient origin(t.origin_options(), "test-origin");
  kvStore *kv = nullptr;
  ASSERT_EQ(js_KeyValue(&kv, origin.origin(), "keys"), NATS_OK);
  uint64_t rev1 = 0, rev2 = 0;
  ASSERT_EQ(kvStore_PutString(&rev1, kv, "key_a", "{}"), NATS_OK);
  ASSERT_EQ(kvStore_PutString(&rev2, kv, "key_b", "{}"), NATS_OK);
  kvStore_Destroy(kv);

  const auto opts = t.options(t.region(0));
  sync::NatsClient region(opts, "test-region");
  sync::StreamState st;
  ASSERT_TRUE(eventually([&] {
    st = sync::region_stream_state(region, opts);
    return st.last_seq == rev2;
  })) << "mirror last_seq " << st.last_seq << ", origin " << rev2;
  EXPECT_TRUE(st.is_mirror);
  EXPECT_EQ(st.messages, 2u);

  EXPECT_EQ(sync::init_origin(origin, t.origin_options()), "exists");
  EXPECT_EQ(sync::init_region(region, opts), "exists");
}

TEST(NatsStreams, RegionNeedsTwoDomains) {
  NatsTopology t({"in"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  auto opts = t.options(t.region(0));
  sync::NatsClient c(opts, "test");
  opts.origin_domain = opts.domain;
  EXPECT_THROW(sync::init_region(c, opts), sync::NatsError);
}

TEST(NatsStreams, MissingStreamNamesTheFix) {
  NatsTopology t({"in"});
  std::string why;
  ASSERT_TRUE(t.start(&why)) << why;
  auto opts = t.options(t.region(0));
  opts.stream = "KV_nothere";
  sync::NatsClient c(opts, "test");
  try {
    sync::region_stream_state(c, opts);
    FAIL() << "no error for a missing stream";
  } catch (const sync::NatsError &e) {
    EXPECT_NE(std::string(e.what()).find("init-region"), std::string::npos) << e.what();
  }
}

TEST(NatsClient, UnreachableServerNamesIt) {
  sync::NatsOptions o;
  o.servers = {"nats://127.0.0.1:1"};
  o.request_timeout = std::chrono::milliseconds(200);
  try {
    sync::NatsClient c(o, "test");
    FAIL() << "connected to a closed port";
  } catch (const sync::NatsError &e) {
    EXPECT_NE(std::string(e.what()).find("nats://127.0.0.1:1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgekey::test
