// RequestParser: http-parser plus limits, fed bytes with no socket.
#include <gtest/gtest.h>

#include <string>

#include "daemon/http/request_parser.hpp"

namespace edgekey::daemon::http {
namespace {

using Event = RequestParser::Event;

struct Fed {
  Event event;
  std::size_t consumed;
};

Fed feed_all(RequestParser& p, std::string_view data) {
  auto r = p.feed(data.data(), data.size());
  return {r.event, r.consumed};
}

TEST(RequestParser, ParsesRequestLineHeadersAndBody) {
  RequestParser p(Limits{});
  const std::string req =
      "POST /v1/validate?x=1&y=2#frag HTTP/1.1\r\n"
      "Host: edge\r\n"
      "X-Edgekey-Permission:   chat:write  \r\n"
      "AUTHORIZATION: Bearer abc\r\n"
      "Content-Length: 4\r\n"
      "\r\n"
      "body";
  auto r = feed_all(p, req);
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(r.consumed, req.size());
  const Request& q = p.request();
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.target, "/v1/validate?x=1&y=2#frag");
  EXPECT_EQ(q.path, "/v1/validate");
  EXPECT_EQ(q.query, "x=1&y=2");
  ASSERT_EQ(q.headers.size(), 4u);
  EXPECT_EQ(q.headers[0].first, "host");
  EXPECT_EQ(q.headers[1].first, "x-edgekey-permission");
  EXPECT_EQ(q.headers[1].second, "chat:write");
  EXPECT_EQ(q.headers[2].first, "authorization");
  EXPECT_EQ(q.header("Authorization"), "Bearer abc");
  EXPECT_EQ(q.header("missing"), std::nullopt);
  EXPECT_EQ(q.body, "body");
  EXPECT_TRUE(q.keep_alive);
  EXPECT_EQ(q.http_minor, 1);
}

TEST(RequestParser, ByteByByteGivesTheSameRequest) {
  RequestParser p(Limits{});
  const std::string req =
      "GET /a?b HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(300, 'v') + "\r\n\r\n";
  for (std::size_t i = 0; i + 1 < req.size(); ++i) {
    auto r = p.feed(req.data() + i, 1);
    ASSERT_EQ(r.event, Event::need_more) << i;
    ASSERT_EQ(r.consumed, 1u);
    EXPECT_TRUE(p.mid_request());
  }
  auto r = p.feed(req.data() + req.size() - 1, 1);
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(p.request().path, "/a");
  EXPECT_EQ(p.request().query, "b");
  EXPECT_EQ(p.request().header("x-long"), std::string(300, 'v'));
}

TEST(RequestParser, PipelinedRequestsOneAtATime) {
  RequestParser p(Limits{});
  const std::string data = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\nA: b\r\n\r\nGET /3 HT";
  std::string_view rest = data;
  auto r = feed_all(p, rest);
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(p.request().path, "/1");
  p.next();
  EXPECT_FALSE(p.mid_request());
  rest.remove_prefix(r.consumed);
  r = feed_all(p, rest);
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(p.request().path, "/2");
  EXPECT_EQ(p.request().header("a"), "b");
  p.next();
  rest.remove_prefix(r.consumed);
  r = feed_all(p, rest);
  EXPECT_EQ(r.event, Event::need_more);
  EXPECT_EQ(r.consumed, rest.size());
  EXPECT_TRUE(p.mid_request());
}

TEST(RequestParser, HeaderLimitIsExact) {
  const std::string head = "GET / HTTP/1.1\r\nX: ";
  Limits l;
  l.max_header_bytes = 200;
  // Exactly at the limit (request line + headers + blank line).
  const std::string at = head + std::string(200 - head.size() - 4, 'a') + "\r\n\r\n";
  ASSERT_EQ(at.size(), 200u);
  {
    RequestParser p(l);
    EXPECT_EQ(feed_all(p, at).event, Event::request);
  }
  const std::string over = head + std::string(200 - head.size() - 3, 'a') + "\r\n\r\n";
  {
    RequestParser p(l);
    auto r = feed_all(p, over);
    ASSERT_EQ(r.event, Event::error);
    EXPECT_EQ(p.error().status, 431);
    // Dead afterwards.
    EXPECT_EQ(p.feed("x", 1).event, Event::error);
  }
  {  // Same verdict when the bytes trickle in.
    RequestParser p(l);
    Event e = Event::need_more;
    for (char ch : over) {
      e = p.feed(&ch, 1).event;
      if (e != Event::need_more) break;
    }
    EXPECT_EQ(e, Event::error);
    EXPECT_EQ(p.error().status, 431);
  }
}

TEST(RequestParser, HeaderLimitDoesNotCountTheBody) {
  Limits l;
  l.max_header_bytes = 64;
  RequestParser p(l);
  const std::string req = "POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b');
  auto r = feed_all(p, req);
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(p.request().body.size(), 100u);
}

TEST(RequestParser, BodyLimitOnContentLength) {
  Limits l;
  l.max_body_bytes = 10;
  {
    RequestParser p(l);
    auto r = feed_all(p, "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    EXPECT_EQ(r.event, Event::request);
  }
  {
    RequestParser p(l);
    auto r = feed_all(p, "POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n");
    ASSERT_EQ(r.event, Event::error);
    EXPECT_EQ(p.error().status, 413);
  }
}

TEST(RequestParser, BodyLimitOnChunks) {
  Limits l;
  l.max_body_bytes = 10;
  {
    RequestParser p(l);
    auto r = feed_all(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n");
    ASSERT_EQ(r.event, Event::request);
    EXPECT_EQ(p.request().body, "helloworld");
    EXPECT_EQ(p.request().header("x-trailer"), std::nullopt) << "trailers are not headers";
  }
  {
    RequestParser p(l);
    auto r = feed_all(p, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5\r\nhello\r\n6\r\nworld!\r\n0\r\n\r\n");
    ASSERT_EQ(r.event, Event::error);
    EXPECT_EQ(p.error().status, 413);
  }
}

TEST(RequestParser, MalformedInputIs400WithAReason) {
  for (std::string bad : {std::string("\x00\x01 hello", 8), std::string("GET /a b HTTP/1.1\r\n\r\n"),
                          std::string("GET / HTTP/1.1 x\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"),
                          std::string("GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\nx"),
                          std::string("GET / HTTP/1.1\r\nX@: y\r\n\r\n"),
                          std::string("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                          std::string("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n"),
                          std::string("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nab")}) {
    RequestParser p(Limits{});
    auto r = feed_all(p, bad);
    EXPECT_EQ(r.event, Event::error) << bad;
    EXPECT_EQ(p.error().status, 400) << bad;
    EXPECT_FALSE(p.error().reason.empty());
  }
}

TEST(RequestParser, OtherMajorVersionIs505) {
  RequestParser p(Limits{});
  auto r = feed_all(p, "GET / HTTP/2.0\r\n\r\n");
  ASSERT_EQ(r.event, Event::error);
  EXPECT_EQ(p.error().status, 505);
}

TEST(RequestParser, KeepAliveRules) {
  struct Case {
    const char* req;
    bool keep;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false},
  };
  for (const auto& c : cases) {
    RequestParser p(Limits{});
    ASSERT_EQ(feed_all(p, c.req).event, Event::request) << c.req;
    EXPECT_EQ(p.request().keep_alive, c.keep) << c.req;
  }
}

TEST(RequestParser, AbsoluteFormTarget) {
  RequestParser p(Limits{});
  ASSERT_EQ(feed_all(p, "GET http://h:1/p/q?x=y HTTP/1.1\r\n\r\n").event, Event::request);
  EXPECT_EQ(p.request().path, "/p/q");
  EXPECT_EQ(p.request().query, "x=y");
}

TEST(RequestParser, ExpectContinuePausesAfterHeaders) {
  RequestParser p(Limits{});
  const std::string head = "POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-Continue\r\n\r\n";
  const std::string all = head + "ab";
  auto r = feed_all(p, all);
  ASSERT_EQ(r.event, Event::continue_100);
  EXPECT_LE(r.consumed, head.size());
  EXPECT_GE(r.consumed, head.size() - 1);  // http-parser may keep the last LF
  r = feed_all(p, std::string_view(all).substr(r.consumed));
  ASSERT_EQ(r.event, Event::request);
  EXPECT_EQ(p.request().body, "ab");
}

TEST(RequestParser, DuplicateHeadersAreKeptAndCounted) {
  RequestParser p(Limits{});
  ASSERT_EQ(feed_all(p, "GET / HTTP/1.1\r\nAuthorization: a\r\nauthorization: b\r\n\r\n").event,
            Event::request);
  EXPECT_EQ(p.request().header_count("Authorization"), 2u);
  EXPECT_EQ(p.request().header("authorization"), "a");
}

TEST(RequestParser, LeadingEmptyLinesBetweenRequestsAreSkipped) {
  RequestParser p(Limits{});
  ASSERT_EQ(feed_all(p, "\r\n\r\nGET /x HTTP/1.1\r\n\r\n").event, Event::request);
  EXPECT_EQ(p.request().path, "/x");
}

}  // namespace
}  // namespace edgekey::daemon::http
