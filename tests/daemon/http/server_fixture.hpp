// Fixture of the HttpServer tests: a real server on a uv loop thread, with a
// handler offering a few routes, and helpers to read its stats through the
// loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/http/server.hpp"
#include "test_support.hpp"

namespace edgekey::daemon::http::test {

using Clock = std::chrono::steady_clock;

class HttpServerTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string sock = dir.file("edgekeyd.sock");
  LoopThread loop;
  std::unique_ptr<HttpServer> server;
  // Touched only on the loop thread.
  std::vector<std::string> seen_headers;
  std::uint64_t latency_calls = 0;

  void start(Limits limits = {}, unsigned mode = 0660) {
    ServerConfig cfg;
    cfg.socket_path = sock;
    cfg.socket_mode = mode;
    cfg.backlog = 64;
    cfg.limits = limits;
    server = std::make_unique<HttpServer>(
        loop.loop(), cfg, [this](const Request& r, Response& w) { handle(r, w); });
    server->set_latency_hook(
        [this](const Request&, const Response&, std::chrono::nanoseconds) { ++latency_calls; });
    server->start();
    loop.start();
  }

  void TearDown() override {
    if (server) {
      loop.stop([&] { server->close(); });
      EXPECT_TRUE(server->closed());
      server.reset();
    }
  }

  void handle(const Request& r, Response& w) {
    if (r.path == "/echo") {
      seen_headers.clear();
      for (const auto& h : r.headers) seen_headers.emplace_back(h.first);
      w.add_header("Content-Type", "text/plain");
      w.add_header("X-Method", r.method);
      w.add_header("X-Path", r.path);
      w.add_header("X-Query", r.query);
      if (auto v = r.header("X-Foo")) w.add_header("X-Foo", *v);
      w.body = "echo:" + std::string(r.body);
    } else if (r.path == "/seq") {
      w.body.assign(r.query);
    } else if (r.path == "/big") {
      w.body.assign(8u << 20, 'x');
    } else if (r.path == "/shutdown") {
      server->close();
    } else if (r.path == "/throw") {
      throw std::runtime_error("boom");
    } else {
      w.body = "ok";
    }
  }

  ServerStats stats() {
    return loop.call([&] { return server->stats(); });
  }

  // Re-reads the stats through the loop until pred holds or the deadline.
  bool wait_stats(const std::function<bool(const ServerStats&)>& pred,
                  std::chrono::milliseconds timeout = 3000ms) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (pred(stats())) return true;
      std::this_thread::yield();
    }
    return pred(stats());
  }
};

inline const std::string kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace edgekey::daemon::http::test
