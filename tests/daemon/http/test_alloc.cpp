// Steady-state requests through a Session allocate nothing: buffers, the
// parser's arena and the Response are reused. Counts global operator new,
// which this file replaces (not under sanitizers, which replace it
// themselves).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "daemon/http/session.hpp"

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
}
void* operator new(std::size_t n) {
  g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
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

}  // namespace
}  // namespace edgekey::daemon::http
