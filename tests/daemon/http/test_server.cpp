// HttpServer end to end, the protocol: real clients over the Unix socket.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <system_error>

#include <gtest/gtest.h>

#include "server_fixture.hpp"

namespace edgekey::daemon::http::test {
namespace {

TEST_F(HttpServerTest, SimpleGetWithHeaders) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send("GET /echo?a=1&b=2 HTTP/1.1\r\nHost: x\r\nX-Foo: Bar Baz  \r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "echo:");
  EXPECT_EQ(r->header("Content-Length"), "5");
  EXPECT_EQ(r->header("X-Method"), "GET");
  EXPECT_EQ(r->header("X-Path"), "/echo");
  EXPECT_EQ(r->header("X-Query"), "a=1&b=2");
  EXPECT_EQ(r->header("X-Foo"), "Bar Baz");
  EXPECT_EQ(r->header("Connection"), std::nullopt);
  EXPECT_EQ(loop.call([&] { return seen_headers; }),
            (std::vector<std::string>{"host", "x-foo"}));
  auto s = stats();
  EXPECT_EQ(s.requests_total, 1u);
  EXPECT_EQ(s.responses_by_class[2], 1u);
  EXPECT_EQ(s.connections_open, 1u);
  EXPECT_EQ(s.connections_total, 1u);
  EXPECT_EQ(loop.call([&] { return latency_calls; }), 1u);
}

TEST_F(HttpServerTest, KeepAliveServesThreeRequestsOnOneConnection) {
  start();
  Client c(sock);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /seq?" + std::to_string(i) + " HTTP/1.1\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, std::to_string(i));
  }
  auto s = stats();
  EXPECT_EQ(s.requests_total, 3u);
  EXPECT_EQ(s.connections_total, 1u);
}

TEST_F(HttpServerTest, PipelinedRequestsAnsweredInOrder) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send(
      "GET /seq?1 HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "GET /seq?3 HTTP/1.1\r\n\r\n"));
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  auto r3 = c.read_response();
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1->body, "1");
  EXPECT_EQ(r2->body, "echo:abc");
  EXPECT_EQ(r3->body, "3");
}

TEST_F(HttpServerTest, PipelinedFloodWithoutReadingIsAnsweredInOrder) {
  start();
  Client c(sock);
  constexpr int kRequests = 20000;  // ~450 KB of requests, more answer bytes
  std::string out;
  for (int i = 0; i < kRequests; ++i) out += "GET /seq?" + std::to_string(i) + " HTTP/1.1\r\n\r\n";
  std::string in;
  int answered = 0;
  std::size_t sent = 0;
  const int fd = c.fd();
  // Phase 1: push requests without reading until the socket pushes back.
  for (;;) {
    const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
    if (sent == out.size()) break;
  }
  // Phase 2: full duplex until every answer is in.
  const auto deadline = Clock::now() + 20s;
  while (answered < kRequests && Clock::now() < deadline) {
    pollfd p{fd, static_cast<short>(POLLIN | (sent < out.size() ? POLLOUT : 0)), 0};
    ASSERT_GE(::poll(&p, 1, 1000), 0);
    if ((p.revents & POLLOUT) && sent < out.size()) {
      const ssize_t n =
          ::send(fd, out.data() + sent, out.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    if (p.revents & (POLLIN | POLLHUP)) {
      char buf[65536];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      ASSERT_NE(n, 0) << "server closed after " << answered << " answers";
      if (n > 0) in.append(buf, static_cast<std::size_t>(n));
      while (auto r = take_response(in)) {
        ASSERT_EQ(r->status, 200);
        ASSERT_EQ(r->body, std::to_string(answered));
        ++answered;
      }
    }
  }
  EXPECT_EQ(answered, kRequests);
  EXPECT_EQ(stats().requests_total, static_cast<std::uint64_t>(kRequests));
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed());
  EXPECT_TRUE(wait_stats([](const ServerStats& s) { return s.connections_open == 0; }));
}

TEST_F(HttpServerTest, Http10ClosesAfterResponse) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET / HTTP/1.0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, Http10KeepAliveIsHonoured) {
  start();
  Client c(sock);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->header("Connection"), "keep-alive");
  }
}

TEST_F(HttpServerTest, OversizedHeaderGets431AndClose) {
  Limits l;
  l.max_header_bytes = 1024;
  start(l);
  Client c(sock);
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(c.wait_closed());
  auto s = stats();
  EXPECT_EQ(s.rejected.header_too_large, 1u);
  EXPECT_EQ(s.requests_total, 0u);
  EXPECT_EQ(s.responses_by_class[4], 1u);
}

TEST_F(HttpServerTest, OversizedBodyGets413BeforeTheBodyIsSent) {
  Limits l;
  l.max_body_bytes = 1000;
  start(l);
  Client c(sock);
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(stats().rejected.body_too_large, 1u);
}

TEST_F(HttpServerTest, OversizedChunkedBodyGets413) {
  Limits l;
  l.max_body_bytes = 1000;
  start(l);
  Client c(sock);
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  const std::string chunk = "200\r\n" + std::string(0x200, 'b') + "\r\n";
  ASSERT_TRUE(c.send(chunk));
  ASSERT_TRUE(c.send(chunk));  // 1024 > 1000
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, GarbageGets400NamingTheProblem) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send(std::string("\x00\x01 hello", 8)));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("method"), std::string::npos) << r->body;
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(stats().rejected.bad_request, 1u);
}

TEST_F(HttpServerTest, BadRequestLineGets400) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /a b HTTP/1.1\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_FALSE(r->body.empty());
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, UnsupportedVersionGets505) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET / HTTP/2.0\r\n\r\n"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 505);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, ErrorAfterGoodPipelinedRequestKeepsTheGoodAnswer) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /seq?1 HTTP/1.1\r\n\r\nBLAH\r\n\r\n"));
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->body, "1");
  EXPECT_EQ(r2->status, 400);
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  Limits l;
  l.idle_timeout = 100ms;
  start(l);
  Client c(sock);
  ASSERT_TRUE(c.send(kGet));
  ASSERT_TRUE(c.read_response());
  const auto t0 = Clock::now();
  EXPECT_TRUE(c.wait_closed(3000ms));
  EXPECT_GE(Clock::now() - t0, 90ms);
  EXPECT_TRUE(c.buffered().empty()) << "idle close must be silent";
  EXPECT_TRUE(wait_stats([](const ServerStats& s) { return s.idle_closed == 1 && s.connections_open == 0; }));
}

TEST_F(HttpServerTest, ConnectionThatNeverSendsIsClosedWhenIdle) {
  Limits l;
  l.idle_timeout = 100ms;
  start(l);
  Client c(sock);
  EXPECT_TRUE(c.wait_closed(3000ms));
  EXPECT_TRUE(c.buffered().empty());
}

TEST_F(HttpServerTest, ActiveConnectionOutlivesIdleTimeout) {
  Limits l;
  l.idle_timeout = 150ms;
  start(l);
  Client c(sock);
  const auto t0 = Clock::now();
  int n = 0;
  while (Clock::now() - t0 < 450ms) {
    ASSERT_TRUE(c.send(kGet));
    ASSERT_TRUE(c.read_response()) << "closed after " << n << " requests";
    ++n;
    EXPECT_FALSE(c.wait_data(50ms));  // think time; nothing may arrive
  }
  EXPECT_GE(n, 3);
}

TEST_F(HttpServerTest, SlowClientGets408FromFirstByteDespiteTrickling) {
  Limits l;
  l.request_timeout = 150ms;
  l.idle_timeout = 10s;
  start(l);
  Client c(sock);
  const std::string req = "GET /slow HTTP/1.1\r\nX-Pad: " + std::string(100, 'a') + "\r\n\r\n";
  const auto t0 = Clock::now();
  std::size_t i = 0;
  for (; i < req.size(); ++i) {
    if (!c.send(req.substr(i, 1))) break;  // closed under us: the 408 is in
    if (c.wait_data(20ms)) break;           // one byte per 20 ms, until an answer
  }
  auto r = c.read_response();
  const auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_LT(i, req.size()) << "the deadline was extended by trickled bytes";
  EXPECT_GE(elapsed, 140ms);
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(stats().rejected.timeout, 1u);
}

TEST_F(HttpServerTest, ClientDisconnectingMidRequestLeavesServerServing) {
  start();
  {
    Client c(sock);
    ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
    ASSERT_TRUE(wait_stats([](const ServerStats& s) { return s.connections_total == 1; }));
  }
  EXPECT_TRUE(wait_stats([](const ServerStats& s) { return s.connections_open == 0; }));
  EXPECT_TRUE(serves_a_new_client());
}

TEST_F(HttpServerTest, ClientDisconnectingMidResponseLeavesServerServing) {
  start();
  {
    Client c(sock);
    ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\n\r\n"));
    ASSERT_TRUE(c.wait_data(3000ms));  // part of the 8 MiB is in; the rest is queued
  }
  EXPECT_TRUE(wait_stats([](const ServerStats& s) { return s.connections_open == 0; }));
  EXPECT_TRUE(serves_a_new_client());
}

TEST_F(HttpServerTest, BigResponseArrivesWhole) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /big HTTP/1.1\r\n\r\n" + kGet));
  auto r = c.read_response(10000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), 8u << 20);
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "ok");
}

TEST_F(HttpServerTest, HalfClosedClientStillGetsItsAnswer) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /seq?1 HTTP/1.1\r\n\r\nGET /seq?2 HTTP/1.1\r\n\r\n"));
  ASSERT_EQ(::shutdown(c.fd(), SHUT_WR), 0);
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r2->body, "2");
  EXPECT_TRUE(c.wait_closed());
}

TEST_F(HttpServerTest, ConnectionLimitAnswers503) {
  Limits l;
  l.max_connections = 2;
  start(l);
  Client a(sock), b(sock);
  for (Client* c : {&a, &b}) {
    ASSERT_TRUE(c->send(kGet));
    ASSERT_TRUE(c->read_response());
  }
  Client over(sock);
  auto r = over.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_TRUE(over.wait_closed());
  auto s = stats();
  EXPECT_EQ(s.rejected.overload, 1u);
  EXPECT_EQ(s.connections_open, 2u);
  EXPECT_EQ(s.responses_by_class[5], 1u);

  a.close();
  ASSERT_TRUE(wait_stats([](const ServerStats& st) { return st.connections_open == 1; }));
  EXPECT_TRUE(serves_a_new_client());
}

TEST_F(HttpServerTest, HandlerExceptionGives500AndKeepsConnection) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("GET /throw HTTP/1.1\r\n\r\n" + kGet));
  auto r1 = c.read_response();
  auto r2 = c.read_response();
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->status, 500);
  EXPECT_EQ(r2->status, 200);
}

TEST_F(HttpServerTest, HeadGetsLengthButNoBody) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("HEAD /seq?hello HTTP/1.1\r\n\r\nGET /seq?next HTTP/1.1\r\n\r\n"));
  auto r1 = c.read_response(3000ms, /*head=*/true);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->header("Content-Length"), "5");
  auto r2 = c.read_response();
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->body, "next");
}

TEST_F(HttpServerTest, ExpectContinueGets100ThenTheAnswer) {
  start();
  Client c(sock);
  ASSERT_TRUE(c.send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = c.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.send("hello"));
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "echo:hello");
}

}  // namespace
}  // namespace edgekey::daemon::http::test
