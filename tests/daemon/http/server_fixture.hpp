// Fixture of the HttpServer tests: a real server on a uv loop thread, with a
// handler offering a few routes, and helpers to read its stats through the
// loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <stdexcept>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/http/server.hpp"
#include "test_support.hpp"

namespace edgekey::daemon::http::test {

using Clock = std::chrono::steady_clock;

inline const std::string kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

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

  // A new connection has its GET answered 200: the server still serves.
  ::testing::AssertionResult serves_a_new_client() {
    Client c(sock);
    if (!c.send(kGet)) return ::testing::AssertionFailure() << "cannot send to " << sock;
    auto r = c.read_response();
    if (!r) return ::testing::AssertionFailure() << "no answer on " << sock;
    if (r->status != 200) return ::testing::AssertionFailure() << "answered " << r->status << ": " << r->body;
    return ::testing::AssertionSuccess();
  }

  // Another server's start() on `path` fails with a std::system_error naming
  // the path: its errno; nullopt (and a test failure) when it started.
  std::optional<int> start_errno(const std::string& path) {
    LoopThread other;
    HttpServer s(other.loop(), ServerConfig{path, 0660, 16, {}}, [](const Request&, Response&) {});
    try {
      s.start();
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
      return e.code().value();
    }
    ADD_FAILURE() << "a second server started on " << path;
    return std::nullopt;
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

}  // namespace edgekey::daemon::http::test
