// NatsProxy (tests/support/nats_proxy.hpp) against a scripted fake server:
// frames split at every byte still parse, each fault touches exactly the
// frames it names, and a partition holds data both ways until healed.
#include "nats_proxy.hpp"
#include "test_ports.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace edgekey::test {
namespace {

using namespace std::chrono_literals;

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd &&o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd &operator=(Fd &&o) noexcept {
    std::swap(fd, o.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// A listening socket on 127.0.0.1 standing in for nats-server.
struct FakeServer {
  Fd listener;
  int port = 0;
  FakeServer() {
    listener = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = edgekey::test::loopback_address(0);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(listener.fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener.fd, 8), 0);
    ::getsockname(listener.fd, reinterpret_cast<sockaddr *>(&a), &len);
    port = ntohs(a.sin_port);
  }
  // The next connection the proxy makes, or -1 when none comes within `limit`.
  Fd accept(std::chrono::milliseconds limit = 2000ms) {
    pollfd p{listener.fd, POLLIN, 0};
    if (::poll(&p, 1, int(limit.count())) != 1) return Fd();
    const int one = 1;
    Fd c(::accept(listener.fd, nullptr, nullptr));
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return c;
  }
};

Fd connect_to(int port) {
  Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = edgekey::test::loopback_address(port);
  EXPECT_EQ(::connect(c.fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
  return c;
}

void send_all(int fd, const std::string &s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += size_t(n);
  }
}

// One byte per send: the proxy sees frames cut at every position.
void send_bytewise(int fd, const std::string &s) {
  for (char ch : s) ASSERT_EQ(::send(fd, &ch, 1, MSG_NOSIGNAL), 1);
}

// Reads until `n` bytes came, the peer closed, or `limit` passed.
std::string read_n(int fd, size_t n, std::chrono::milliseconds limit = 3000ms) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, int(left.count())) != 1) break;
    char buf[4096];
    const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, size_t(r));
  }
  return out;
}

// What arrives next (up to 64 KiB); "" when nothing came within `limit`.
std::string read_some(int fd, std::chrono::milliseconds limit = 3000ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, int(limit.count())) != 1) return "";
  char buf[65536];
  const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
  return r > 0 ? std::string(buf, size_t(r)) : std::string();
}

// Nothing arrives within `window` (a bounded check of an absence).
bool silent(int fd, std::chrono::milliseconds window = 200ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, int(window.count())) == 0;
}

std::string msg(const std::string &subject, const std::string &reply, const std::string &payload) {
  return "MSG " + subject + " 1 " + (reply.empty() ? "" : reply + " ") + std::to_string(payload.size()) + "\r\n" +
         payload + "\r\n";
}

std::string hmsg(const std::string &subject, const std::string &reply, const std::string &hdr,
                 const std::string &payload) {
  return "HMSG " + subject + " 1 " + (reply.empty() ? "" : reply + " ") + std::to_string(hdr.size()) + " " +
         std::to_string(hdr.size() + payload.size()) + "\r\n" + hdr + payload + "\r\n";
}

// JetStream deliveries in both ack-subject forms, stream sequences 42 and 43.
const std::string kJsV1 = msg("$KV.keys.a", "$JS.ACK.KV_keys.c1.1.42.7.1700000000000000000.3", "{\"id\":\"a\"}");
const std::string kJsV2 = hmsg("$KV.keys.b", "$JS.ACK.in.HASH.KV_keys.c1.1.43.8.1700000000000000000.2.rnd",
                               "NATS/1.0\r\nKV-Operation: DEL\r\n\r\n", "");
const std::string kHeartbeat = hmsg("_INBOX.d", "", "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 8\r\n\r\n", "");
const std::string kFlowControl = hmsg("_INBOX.d", "$JS.FC.KV_keys.x.1", "NATS/1.0 100 FlowControl Request\r\n\r\n", "");
const std::string kReply = msg("_INBOX.r.1", "", "x\r\nMSG a 1 2\r\n");  // protocol text inside a payload

struct Linked {
  FakeServer server;
  NatsProxy proxy{server.port};
  Fd client = connect_to(proxy.port());
  Fd upstream = server.accept();
};

TEST(NatsProxy, PassesFramesCutAtEveryByteAndHidesServerUrls) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  const std::string info_in =
      "INFO {\"server_id\":\"S\",\"connect_urls\":[\"10.1.2.3:4222\",\"10.1.2.4:4222\"],\"max_payload\":1048576,"
      "\"ws_connect_urls\":[\"10.1.2.3:8080\"]}\r\n";
  const std::string info_out = "INFO {\"server_id\":\"S\",\"max_payload\":1048576}\r\n";
  const std::string rest = "+OK\r\n" + kJsV1 + kJsV2 + kHeartbeat + kFlowControl + kReply + "PING\r\n-ERR 'x'\r\n";
  send_bytewise(l.upstream.fd, info_in + rest);
  EXPECT_EQ(read_n(l.client.fd, info_out.size() + rest.size()), info_out + rest);

  const std::string from_client = "CONNECT {}\r\nPUB $JS.in.API.CONSUMER.CREATE.KV_keys _INBOX.r.2 2\r\n{}\r\n"
                                  "PUB a.b 5\r\nPUB x\r\nPONG\r\n";
  send_bytewise(l.client.fd, from_client);
  EXPECT_EQ(read_n(l.upstream.fd, from_client.size()), from_client);
  const auto c = l.proxy.counters();
  EXPECT_EQ(c.info_rewritten, 1u);
  EXPECT_EQ(c.consumer_creates, 1u);
  EXPECT_EQ(c.js_deliveries, 2u);
  EXPECT_EQ(c.dropped + c.duplicated, 0u);
}

TEST(NatsProxy, DuplicatesEveryMessageFrameAndNothingElse) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  l.proxy.set_duplicate(true);
  send_all(l.upstream.fd, kJsV1 + "PING\r\n" + kHeartbeat + kReply);
  const std::string want = kJsV1 + kJsV1 + "PING\r\n" + kHeartbeat + kHeartbeat + kReply + kReply;
  EXPECT_EQ(read_n(l.client.fd, want.size()), want);
  EXPECT_EQ(l.proxy.counters().duplicated, 3u);
  EXPECT_EQ(l.proxy.counters().js_duplicated, 1u);
  l.proxy.set_duplicate(false);
  send_all(l.upstream.fd, kJsV1);
  EXPECT_EQ(read_n(l.client.fd, kJsV1.size()), kJsV1);
}

TEST(NatsProxy, DropsOnlyJetStreamDeliveries) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  l.proxy.set_drop_per_mille(1000);
  send_all(l.upstream.fd, kJsV1 + kHeartbeat + kJsV2 + kFlowControl + kReply + "PING\r\n");
  const std::string want = kHeartbeat + kFlowControl + kReply + "PING\r\n";
  EXPECT_EQ(read_n(l.client.fd, want.size()), want);  // the PING came: whatever was before it is decided
  EXPECT_EQ(l.proxy.counters().dropped, 2u);
  EXPECT_EQ(l.proxy.dropped_sequences(), (std::vector<uint64_t>{42, 43}));
}

TEST(NatsProxy, DropShareIsAboutWhatWasAsked) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  l.proxy.set_drop_per_mille(10);
  std::string burst;
  for (int i = 0; i < 5000; ++i) burst += kJsV1;
  send_all(l.upstream.fd, burst + "PING\r\n");
  std::string got;  // fewer bytes than sent: read until the PING that follows the burst
  while (!got.ends_with("PING\r\n")) {
    const std::string more = read_some(l.client.fd);
    ASSERT_FALSE(more.empty()) << "the PING never came";
    got += more;
  }
  const auto c = l.proxy.counters();
  EXPECT_EQ(got.size(), (5000 - c.dropped) * kJsV1.size() + 6);
  EXPECT_GT(c.dropped, 20u);  // 1 % of 5,000 is 50
  EXPECT_LT(c.dropped, 100u);
}

TEST(NatsProxy, BlackholeHoldsBothWaysUntilHealed) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  l.proxy.set_blackhole(true);
  send_all(l.upstream.fd, "PING\r\n");
  send_all(l.client.fd, "PONG\r\n");
  EXPECT_TRUE(silent(l.client.fd));
  EXPECT_TRUE(silent(l.upstream.fd));
  Fd late = connect_to(l.proxy.port());  // waits in the backlog
  EXPECT_LT(l.server.accept(200ms).fd, 0);
  l.proxy.set_blackhole(false);
  EXPECT_EQ(read_n(l.client.fd, 6), "PING\r\n");
  EXPECT_EQ(read_n(l.upstream.fd, 6), "PONG\r\n");
  Fd late_upstream = l.server.accept();
  ASSERT_GE(late_upstream.fd, 0);
  send_all(late_upstream.fd, "+OK\r\n");
  EXPECT_EQ(read_n(late.fd, 5), "+OK\r\n");
}

TEST(NatsProxy, ClosingEitherEndClosesTheOther) {
  Linked l;
  ASSERT_GE(l.upstream.fd, 0);
  send_all(l.upstream.fd, "INFO {}\r\n");
  l.upstream = Fd();  // the server goes away after writing
  EXPECT_EQ(read_n(l.client.fd, 100), "INFO {}\r\n");  // flushed, then closed
  Fd other = connect_to(l.proxy.port());
  Fd other_upstream = l.server.accept();
  ASSERT_GE(other_upstream.fd, 0);
  other = Fd();
  EXPECT_EQ(read_n(other_upstream.fd, 1), "");  // end of stream
}

TEST(NatsProxy, ServerDownLooksLikeARefusedConnection) {
  int port;
  {
    FakeServer gone;
    port = gone.port;
  }
  NatsProxy proxy(port);
  Fd c = connect_to(proxy.port());
  EXPECT_EQ(read_n(c.fd, 1), "");
  EXPECT_EQ(proxy.counters().connections, 0u);
}

}  // namespace
}  // namespace edgekey::test
