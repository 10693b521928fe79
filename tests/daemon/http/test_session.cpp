// Session: the protocol state machine with no socket, and response
// serialisation.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "daemon/http/response_writer.hpp"
#include "daemon/http/session.hpp"

namespace edgekey::daemon::http {
namespace {

struct Harness {
  Limits limits;
  ServerStats stats;
  int calls = 0;
  Handler handler = [this](const Request& r, Response& w) {
    ++calls;
    if (r.path == "/throw") throw std::runtime_error("x");
    w.body.assign(r.path);
  };
  LatencyHook hook;
  Session session{limits, handler, hook, stats};

  std::string run(std::string_view in) {
    auto p = session.consume(in.data(), in.size());
    EXPECT_EQ(p.consumed, in.size());
    std::string out;
    out.swap(session.output());
    return out;
  }
};

TEST(Session, AnswersKeepAliveRequest) {
  Harness h;
  EXPECT_EQ(h.run("GET /a HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n/a");
  EXPECT_FALSE(h.session.closing());
  EXPECT_EQ(h.stats.requests_total, 1u);
  EXPECT_EQ(h.stats.responses_by_class[2], 1u);
}

TEST(Session, ConnectionCloseEndsTheSession) {
  Harness h;
  EXPECT_EQ(h.run("GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n/a");
  EXPECT_TRUE(h.session.closing());
  // Nothing more is consumed.
  auto p = h.session.consume("GET / HTTP/1.1\r\n\r\n", 18);
  EXPECT_EQ(p.consumed, 0u);
  EXPECT_EQ(h.calls, 1);
}

TEST(Session, Http10KeepAliveIsAcknowledged) {
  Harness h;
  EXPECT_EQ(h.run("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n/a");
  EXPECT_FALSE(h.session.closing());
}

TEST(Session, HeadHasNoBody) {
  Harness h;
  EXPECT_EQ(h.run("HEAD /abc HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n");
}

TEST(Session, ErrorAnswersAndCloses) {
  Harness h;
  auto p = h.session.consume("BLAH\r\n\r\nGET / HTTP/1.1\r\n\r\n", 26);
  EXPECT_LT(p.consumed, 26u);
  const std::string out = h.session.output();
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(h.session.closing());
  EXPECT_EQ(h.stats.rejected.bad_request, 1u);
  EXPECT_EQ(h.calls, 0);
}

TEST(Session, TimeoutAnswers408Once) {
  Harness h;
  h.run("GET / HT");
  EXPECT_TRUE(h.session.mid_request());
  h.session.request_timed_out();
  h.session.request_timed_out();
  const std::string out = h.session.output();
  EXPECT_EQ(out.rfind("HTTP/1.1 408 Request Timeout\r\n", 0), 0u) << out;
  EXPECT_EQ(out.find("HTTP/1.1", 1), std::string::npos) << "answered twice";
  EXPECT_EQ(h.stats.rejected.timeout, 1u);
}

TEST(Session, HandlerExceptionIs500) {
  Harness h;
  std::string out = h.run("GET /throw HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\n\r\n/ok"), std::string::npos) << out;
  EXPECT_FALSE(h.session.closing());
}

TEST(Session, StopsAtOutputHighWater) {
  Harness h;
  h.handler = [](const Request&, Response& w) { w.body.assign(40 * 1024, 'x'); };
  std::string in;
  for (int i = 0; i < 5; ++i) in += "GET / HTTP/1.1\r\n\r\n";
  auto p = h.session.consume(in.data(), in.size());
  EXPECT_EQ(p.consumed, 2 * 18u) << "two answers pass the 64 KiB mark";
  EXPECT_TRUE(p.finished_request);
  EXPECT_GE(h.session.output().size(), Session::kOutputHighWater);
  h.session.output().clear();
  p = h.session.consume(in.data() + 36, in.size() - 36);
  EXPECT_EQ(p.consumed, 2 * 18u);
}

TEST(Session, LatencyHookSeesEachRequest) {
  Harness h;
  int seen = 0;
  h.hook = [&](const Request& r, const Response& w, std::chrono::nanoseconds d) {
    EXPECT_EQ(r.path, "/x");
    EXPECT_EQ(w.status, 200);
    EXPECT_GE(d.count(), 0);
    ++seen;
  };
  h.run("GET /x HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n");
  EXPECT_EQ(seen, 2);
}

TEST(ResponseWriter, SanitisesHandlerHeaders) {
  Response r;
  r.status = 403;
  r.add_header("X-Ok", "a\r\nSet-Cookie: evil");
  r.add_header("Content-Length", "999");
  r.add_header("connection", "keep-alive");
  r.add_header("Bad Name", "v");
  r.add_header("", "v");
  r.body = "{}";
  std::string out;
  EXPECT_EQ(append_response(out, r, {}), 403);
  EXPECT_EQ(out,
            "HTTP/1.1 403 Forbidden\r\nX-Ok: a  Set-Cookie: evil\r\nContent-Length: 2\r\n\r\n{}");
}

TEST(ResponseWriter, InvalidStatusBecomes500) {
  for (int status : {0, 99, 101, 1000, -5}) {
    Response r;
    r.status = status;
    r.body = "secret";
    std::string out;
    EXPECT_EQ(append_response(out, r, {}), 500);
    EXPECT_EQ(out.rfind("HTTP/1.1 500 ", 0), 0u);
    EXPECT_EQ(out.find("secret"), std::string::npos);
  }
}

TEST(ResponseWriter, NoContentHasNoLength) {
  Response r;
  r.status = 204;
  r.body = "ignored";
  std::string out;
  append_response(out, r, {});
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\n\r\n");
}

TEST(ResponseWriter, UnknownStatusGetsAPhrase) {
  Response r;
  r.status = 599;
  std::string out;
  append_response(out, r, {});
  EXPECT_EQ(out.rfind("HTTP/1.1 599 Unknown\r\n", 0), 0u);
}

TEST(ResponseWriter, OverloadResponseIsWellFormed) {
  const std::string_view o = overload_response();
  const auto end = o.find("\r\n\r\n");
  ASSERT_NE(end, std::string_view::npos);
  EXPECT_EQ(o.size() - end - 4, 21u);
  EXPECT_NE(o.find("Content-Length: 21\r\n"), std::string_view::npos);
}

TEST(Response, ResetKeepsCapacity) {
  Response r;
  r.add_header("X-Edgekey-Workspace", std::string(100, 'w'));
  r.body.assign(1000, 'b');
  const auto* body_data = r.body.data();
  r.reset();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.headers().empty());
  EXPECT_TRUE(r.body.empty());
  r.add_header("X-Edgekey-Workspace", "w2");
  r.body.assign(500, 'c');
  EXPECT_EQ(r.body.data(), body_data);
  EXPECT_EQ(r.header("x-edgekey-workspace"), "w2");
}

}  // namespace
}  // namespace edgekey::daemon::http
