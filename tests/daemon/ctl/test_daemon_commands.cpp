// edgekeyctl validate / status over the daemon's Unix socket, against a fake
// daemon (canned answers) or no daemon at all.
#include "fake_daemon.hpp"
#include "harness.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace edgekey::ctl::test {
namespace {

const std::string kToken = "ek_sk_live_DD3PeIdAWZzk8PscgTuQLK5qNt0bfdsv3T4t72";
const std::string kOk =
    R"({"status":200,"code":"ok","key_id":"key_2hT9cQ4mZ8","workspace":"ws_solar","type":"secret","env":"live","role":"developer","expires_at":null})";
const std::string kForbidden =
    R"({"status":403,"code":"insufficient_permission","key_id":"key_2hT9cQ4mZ8","workspace":"ws_solar","type":"secret","env":"live","role":"developer","expires_at":null})";

// The value of header `name` in a request head ("" if absent).
std::string header_in(const std::string &head, const std::string &name) {
  const std::string key = "\r\n" + name + ": ";
  const size_t at = head.find(key);
  if (at == std::string::npos) return "";
  const size_t from = at + key.size();
  return head.substr(from, head.find("\r\n", from) - from);
}

TEST(Validate, OkPrintsKeyAndSendsTheRequestHeaders) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(200, kOk));
  const RunResult r = s.ctl({"validate", kToken, "--permission", "agents:deploy", "--ip", "203.0.113.7", "--origin",
                             "https://app.example.com", "--env", "live"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "200 ok key_2hT9cQ4mZ8 (ws_solar, developer)\n");
  const auto reqs = d.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("GET /v1/validate HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_EQ(header_in(reqs[0], "Authorization"), "Bearer " + kToken);
  EXPECT_EQ(header_in(reqs[0], "X-Edgekey-Permission"), "agents:deploy");
  EXPECT_EQ(header_in(reqs[0], "X-Real-IP"), "203.0.113.7");
  EXPECT_EQ(header_in(reqs[0], "Origin"), "https://app.example.com");
  EXPECT_EQ(header_in(reqs[0], "X-Edgekey-Env"), "live");
  EXPECT_EQ(header_in(reqs[0], "Connection"), "close");
}

TEST(Validate, OptionalHeadersAreLeftOut) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(200, kOk));
  ASSERT_EQ(s.ctl({"validate", kToken}).exit_code, 0);
  const std::string head = d.requests().at(0);
  for (const char *h : {"X-Edgekey-Permission", "X-Real-IP", "Origin", "X-Edgekey-Env"})
    EXPECT_EQ(head.find(std::string("\r\n") + h + ":"), std::string::npos) << h;
}

TEST(Validate, RefusalsExit1) {
  Scratch s;
  {
    FakeDaemon d(s.socket(), FakeDaemon::http(403, kForbidden));
    const RunResult r = s.ctl({"validate", kToken, "--permission", "billing:manage"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "403 insufficient_permission key_2hT9cQ4mZ8 (ws_solar, developer)\n");
  }
  {
    FakeDaemon d(s.socket(), FakeDaemon::http(401, R"({"status":401,"code":"unknown_key"})"));
    const RunResult r = s.ctl({"validate", kToken});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(r.out, "401 unknown_key\n");
  }
}

TEST(Validate, JsonPrintsTheDaemonsAnswer) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(403, kForbidden));
  const RunResult r = s.ctl({"--json", "validate", kToken});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(r.out), nlohmann::json::parse(kForbidden));
}

TEST(Validate, ServiceUnavailableExits4) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(503, R"({"status":503,"code":"keyset_stale"})"));
  const RunResult r = s.ctl({"validate", kToken});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "503 keyset_stale\n");
  EXPECT_NE(r.err.find("503"), std::string::npos);
}

TEST(Validate, TokenFromStandardInput) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(200, kOk));
  const RunResult r = s.ctl({"validate", "-"}, kToken + "\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(header_in(d.requests().at(0), "Authorization"), "Bearer " + kToken);
}

TEST(Validate, HeaderInjectionIsRefused) {
  Scratch s;
  FakeDaemon d(s.socket(), FakeDaemon::http(200, kOk));
  const RunResult r = s.ctl({"validate", kToken, "--permission", "chat:write\r\nX-Evil: 1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("X-Edgekey-Permission"), std::string::npos) << r.err;
  EXPECT_TRUE(d.requests().empty());
}

TEST(Validate, ParsesAnswersInAnyFraming) {
  Scratch s;
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
      [] {
        std::string out;
        for (size_t at = 0; at < kOk.size(); at += 10) {
          const std::string piece = kOk.substr(at, 10);
          char len[8];
          std::snprintf(len, sizeof len, "%zx", piece.size());
          out += std::string(len) + "\r\n" + piece + "\r\n";
        }
        return out + "0\r\n\r\n";
      }();
  const std::string until_close = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + kOk;
  for (const auto &[resp, mode] : {std::pair{chunked, FakeDaemon::Mode::Answer},
                                   std::pair{until_close, FakeDaemon::Mode::Answer},
                                   std::pair{FakeDaemon::http(200, kOk), FakeDaemon::Mode::Trickle},
                                   std::pair{chunked, FakeDaemon::Mode::Trickle}}) {
    FakeDaemon d(s.socket(), resp, mode);
    const RunResult r = s.ctl({"validate", kToken});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "200 ok key_2hT9cQ4mZ8 (ws_solar, developer)\n");
  }
}

TEST(Validate, BrokenOrUnexpectedAnswersExit4) {
  Scratch s;
  struct Case {
    std::string response;
    FakeDaemon::Mode mode;
    std::string message;
  };
  const std::vector<Case> cases = {
      {FakeDaemon::http(200, kOk).substr(0, 60), FakeDaemon::Mode::CloseEarly, "closed the connection"},
      {"", FakeDaemon::Mode::CloseEarly, "closed the connection"},
      {"SSH-2.0-OpenSSH_9.2\r\n", FakeDaemon::Mode::Answer, "not valid HTTP/1.1"},
      {FakeDaemon::http(404, "no such endpoint\n", "text/plain"), FakeDaemon::Mode::Answer,
       "answered 404 to GET /v1/validate: no such endpoint"},
      {FakeDaemon::http(200, "not json"), FakeDaemon::Mode::Answer, "without a JSON body"},
  };
  for (const auto &c : cases) {
    FakeDaemon d(s.socket(), c.response, c.mode);
    const RunResult r = s.ctl({"validate", kToken});
    EXPECT_EQ(r.exit_code, 4) << c.message;
    EXPECT_NE(r.err.find(s.socket()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
}

TEST(Validate, SilentDaemonTimesOut) {
  Scratch s;
  FakeDaemon d(s.socket(), "", FakeDaemon::Mode::Silent);
  const RunResult r = s.ctl({"validate", kToken, "--timeout", "200ms"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("no answer within 200 ms"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(s.socket()), std::string::npos) << r.err;
}

TEST(DaemonUnreachable, MissingSocketExits4NamingThePath) {
  Scratch s;
  for (const std::vector<std::string> &args : {std::vector<std::string>{"validate", kToken}, {"status"}}) {
    const RunResult r = s.ctl(args);
    EXPECT_EQ(r.exit_code, 4) << args[0];
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("no socket at " + s.socket()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("is edgekeyd running?"), std::string::npos) << r.err;
  }
}

TEST(DaemonUnreachable, StaleSocketExits4) {
  Scratch s;
  {  // a socket file nobody listens on, as a killed daemon leaves behind
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", s.socket().c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
    ::close(fd);
  }
  const RunResult r = s.ctl({"status"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("nothing listens on " + s.socket()), std::string::npos) << r.err;
}

TEST(Status, PrettyAndJson) {
  Scratch s;
  const std::string body =
      R"({"region":"in-mum","ready":true,"table":{"name":"edgekey-in-mum","live_keys":3},)"
      R"("upstream":{"kind":"file","last_contact":null},"uptime_seconds":42})";
  FakeDaemon d(s.socket(), FakeDaemon::http(200, body));
  const RunResult r = s.ctl({"status"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "region: in-mum\n"
            "ready: true\n"
            "table:\n"
            "  name: edgekey-in-mum\n"
            "  live_keys: 3\n"
            "upstream:\n"
            "  kind: file\n"
            "  last_contact: -\n"
            "uptime_seconds: 42\n");
  EXPECT_EQ(d.requests().at(0).rfind("GET /v1/status HTTP/1.1\r\n", 0), 0u);
  const RunResult js = s.ctl({"status", "--json"});
  EXPECT_EQ(js.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(js.out), nlohmann::json::parse(body));
}

}  // namespace
}  // namespace edgekey::ctl::test
