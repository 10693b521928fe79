// Steady-state requests through a Session allocate nothing: buffers, the
// parser's arena and the Response are reused. And a connection that finds
// no memory is answered as an overload while the server serves on. Counts
// (and on demand fails) global operator new, which this file replaces (not
// under sanitizers, which replace it themselves).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "daemon/http/connection.hpp"
#include "daemon/http/session.hpp"
#include "server_fixture.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define EDGEKEY_COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define EDGEKEY_COUNT_ALLOCS 0
#endif
#endif
#ifndef EDGEKEY_COUNT_ALLOCS
#define EDGEKEY_COUNT_ALLOCS 1
#endif

#if EDGEKEY_COUNT_ALLOCS
namespace {
std::atomic<long> g_allocs{0};
// The next allocation of exactly one of these sizes off the test's main
// thread throws std::bad_alloc (0: none); each fails once.
std::atomic<std::size_t> g_fail_size[2] = {0, 0};
const std::thread::id g_main_thread = std::this_thread::get_id();
}  // namespace
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  for (auto &fail : g_fail_size) {
    std::size_t want = n;
    if (fail.load(std::memory_order_relaxed) == n && std::this_thread::get_id() != g_main_thread &&
        fail.compare_exchange_strong(want, 0))
      throw std::bad_alloc();
  }
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
// The pair of the operator new above, which takes from malloc (GCC, seeing
// only the names, would warn of a mismatch where these are inlined).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

namespace edgekey::daemon::http {
namespace {

TEST(Allocations, SteadyStateRequestsDoNotAllocate) {
#if !EDGEKEY_COUNT_ALLOCS
  GTEST_SKIP() << "allocation counting is off under sanitizers";
#else
  Limits limits;
  ServerStats stats;
  const Handler handler = [](const Request& r, Response& w) {
    w.add_header("Content-Type", "application/json");
    w.add_header("X-Edgekey-Workspace", "ws_a_rather_long_workspace_name");
    if (auto a = r.header("authorization")) w.add_header("X-Edgekey-Key-Id", a->substr(0, 20));
    w.body.assign(R"({"status":200,"code":"ok","key_id":"key_2hT9cQ4mZ8","workspace":"ws_solar"})");
  };
  const LatencyHook hook;
  Session session(limits, handler, hook, stats);
  const std::string req =
      "GET /v1/validate?x=1 HTTP/1.1\r\nHost: localhost\r\n"
      "Authorization: Bearer ek_sk_live_0123456789abcdefghijABCDEFGHIJ01abcdef\r\n"
      "X-Edgekey-Permission: chat:write\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
  auto round = [&] {
    auto p = session.consume(req.data(), req.size());
    ASSERT_EQ(p.consumed, req.size());
    ASSERT_TRUE(p.finished_request);
    session.output().clear();  // "sent"
  };
  for (int i = 0; i < 16; ++i) round();
  const long before = g_allocs.load();
  for (int i = 0; i < 1000; ++i) round();
  EXPECT_EQ(g_allocs.load() - before, 0);
  EXPECT_EQ(stats.requests_total, 1016u);
#endif
}

// The server's loop thread finds no memory for one more connection: that
// client is answered 503 (as an overload, which it may retry), the server
// serves the next one, and nothing unwinds into libuv.
class AllocFailure : public test::HttpServerTest {
 protected:
  // A new client, with the allocations of `sizes` failing once each on the
  // loop thread: answered 503, every one of them failed, and the next
  // client served.
  void refused_then_served(std::initializer_list<std::size_t> sizes) {
#if EDGEKEY_COUNT_ALLOCS
    start();
    ASSERT_TRUE(serves_a_new_client());
    size_t k = 0;
    for (std::size_t n : sizes) g_fail_size[k++] = n;
    test::Client c(sock);  // refused as it is accepted, before any request is read (as over the limit)
    auto r = c.read_response();
    ASSERT_TRUE(r) << "no answer";
    EXPECT_EQ(r->status, 503);
    for (auto &fail : g_fail_size) EXPECT_EQ(fail.load(), 0u) << "an allocation meant to fail did not happen";
    EXPECT_TRUE(serves_a_new_client());
    EXPECT_TRUE(serves_a_new_client());
    EXPECT_EQ(stats().rejected.overload, 1u);
#else
    (void)sizes;
#endif
  }
};

TEST_F(AllocFailure, AConnectionWithNoMemoryIsAnsweredAsAnOverloadAndTheServerServesOn) {
  if (!EDGEKEY_COUNT_ALLOCS) GTEST_SKIP() << "operator new is the sanitizer's here";
  refused_then_served({sizeof(Connection)});
}

// No memory for the refusal's handle either: the one kept at hand takes
// the connection (libuv accepts nothing more until it is taken).
TEST_F(AllocFailure, NoMemoryForTheRefusalEitherStillTakesTheConnection) {
  if (!EDGEKEY_COUNT_ALLOCS) GTEST_SKIP() << "operator new is the sanitizer's here";
  refused_then_served({sizeof(Connection), sizeof(uv_pipe_t)});
}

}  // namespace
}  // namespace edgekey::daemon::http
