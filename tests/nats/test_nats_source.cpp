// NatsSource in this process, on a real nats-server region: what its loop
// thread does when applying an update throws (no memory; here the log
// callback throws std::bad_alloc on a chosen line, from inside a real
// drain). Nothing may unwind into libuv, and nothing may be skipped: the
// subscription is replaced from the sequence the table holds and the update
// is delivered again.
#include "eventually.hpp"
#include "nats_origin.hpp"
#include "nats_servers.hpp"
#include "shm/writer/table_writer.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/nats/nats_source.hpp"
#include "sync_test_util.hpp"

#include <gtest/gtest.h>
#include <nats/nats.h>
#include <uv.h>

#include <atomic>
#include <functional>
#include <new>

namespace edgekey::test {
namespace {

using namespace std::chrono_literals;
using sync::Severity;

// Runs `loop` until `cond` holds or `limit` passes (a 10 ms timer keeps it
// turning while nothing else wakes it).
bool run_until(uv_loop_t *loop, const std::function<bool()> &cond, std::chrono::milliseconds limit) {
  uv_timer_t turn;
  uv_timer_init(loop, &turn);
  uv_timer_start(&turn, [](uv_timer_t *) {}, 10, 10);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool ok = false;
  while (!(ok = cond()) && std::chrono::steady_clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t *>(&turn), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return ok;
}

size_t count(const std::vector<std::string> &lines, const std::string &part) {
  size_t n = 0;
  for (const auto &l : lines) n += l.find(part) != std::string::npos;
  return n;
}

TEST(NatsSource, AnUpdateThatCannotBeAppliedIsDeliveredAgain) {
  NatsTopology topo({"in"});
  std::unique_ptr<Origin> origin = start_with_origin(topo);
  ASSERT_TRUE(origin);
  auto record = [](const std::string &id, unsigned n) {
    sync::KeyRecord r = sync::testing::minimal_record(id);
    r.hash = sync::testing::hash_n(n);
    return r;
  };

  sync::PolicySpec spec;
  spec.permissions = {"chat:write"};
  spec.roles = {{"developer", {"*"}}};
  spec.region = "in-mum";
  const sync::Policy policy = sync::testing::compiled(spec);
  shm::TableOptions opts;
  opts.name = "ek-nats-source-test-" + std::to_string(getpid());
  opts.capacity = 64;
  policy.apply_to(opts);
  shm::TableWriter::destroy(opts.name);
  auto writer = std::make_unique<shm::TableWriter>(opts);
  sync::Applier applier(*writer, policy, [](const std::string &) {});

  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::string> lines;
  bool thrown = false;
  {
    sync::NatsSource source(&loop, topo.options(topo.region(0)), applier, [&](Severity, const std::string &line) {
      lines.push_back(line);
      if (!thrown && line.find("rejected") != std::string::npos) {
        thrown = true;
        throw std::bad_alloc();
      }
    });
    origin->put(record("key_a", 1));
    source.start(0);
    ASSERT_TRUE(run_until(&loop, [&] { return source.status().synced && applier.size() == 1; }, 20000ms));

    // A record that is rejected (logged: the log throws the first time),
    // then one that is not: the second must not be applied past the first.
    const uint64_t bad = origin->put_raw("key_bad", "not a record");
    const uint64_t c = origin->put(record("key_c", 3));
    ASSERT_TRUE(run_until(&loop, [&] { return applier.revision() == c; }, 20000ms))
        << "revision " << applier.revision() << ", want " << c;
    EXPECT_TRUE(thrown);
    EXPECT_EQ(applier.size(), 2u);
    EXPECT_EQ(count(lines, "stream KV_keys: an update could not be applied (out of memory"), 1u);
    // Delivered again after the failure, and logged that time.
    EXPECT_EQ(count(lines, "upstream record \"key_bad\" (stream sequence " + std::to_string(bad) + ") rejected"), 2u);
    EXPECT_EQ(source.status().snapshots, 1u);

    // It follows on as before.
    const uint64_t d = origin->put(record("key_d", 4));
    EXPECT_TRUE(run_until(&loop, [&] { return applier.revision() == d; }, 20000ms));
    EXPECT_EQ(applier.size(), 3u);
    source.close();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  EXPECT_EQ(uv_loop_close(&loop), 0);
  writer.reset();
  shm::TableWriter::destroy(opts.name);
}

}  // namespace
}  // namespace edgekey::test
