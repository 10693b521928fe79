// The upstream.nats block: servers, domains, names, auth, TLS, timings.
#include "config_test_util.hpp"
#include "daemon/config/nats_config.hpp"

namespace edgekey::daemon::test {
namespace {

using std::chrono::milliseconds;

class NatsConfigTest : public ConfigDir {
 protected:
  // A config whose upstream is `nats:` with `body` (indented 4) under it;
  // the body starts on line 4.
  static std::string with_nats(const std::string &body) {
    return "region: in-mum\nupstream:\n  nats:\n" + body;
  }
};

const std::string F = "DIR/edgekey.yaml:";

TEST_F(NatsConfigTest, FullBlock) {
  const Config c = load(with_nats(
      "    servers: [nats://127.0.0.1:4222, \"tls://nats.in-mum.example.com:4443\", \"nats://[::1]:4222\",\n"
      "              nats://localhost]\n"
      "    origin_domain: eu\n"
      "    domain: in\n"
      "    bucket: keys\n"
      "    credentials: /etc/edgekey/edge.creds\n"
      "    tls: {ca: /etc/edgekey/ca.pem, cert: edge.pem, key: edge.key}\n"
      "    reconnect_wait: 250ms\n"
      "    max_reconnect: 10\n"
      "    heartbeat: 2s\n"
      "    request_timeout: 5s\n"));
  ASSERT_EQ(c.upstream.kind, UpstreamKind::Nats);
  const NatsConfig &n = c.upstream.nats;
  EXPECT_EQ(n.servers, (std::vector<std::string>{"nats://127.0.0.1:4222", "tls://nats.in-mum.example.com:4443",
                                                 "nats://[::1]:4222", "nats://localhost"}));
  EXPECT_EQ(n.origin_domain, "eu");
  EXPECT_EQ(n.domain, "in");
  EXPECT_EQ(n.bucket, "keys");
  EXPECT_EQ(n.stream, "KV_keys");
  EXPECT_EQ(n.credentials, "/etc/edgekey/edge.creds");
  EXPECT_EQ(n.user, "");
  EXPECT_EQ(n.tls.ca, "/etc/edgekey/ca.pem");
  EXPECT_EQ(n.tls.cert, dir_ + "/edge.pem");
  EXPECT_EQ(n.tls.key, dir_ + "/edge.key");
  EXPECT_TRUE(n.tls.enabled());
  EXPECT_EQ(n.reconnect_wait, milliseconds(250));
  EXPECT_EQ(n.max_reconnect, 10);
  EXPECT_EQ(n.heartbeat, milliseconds(2000));
  EXPECT_EQ(n.request_timeout, milliseconds(5000));
}

TEST_F(NatsConfigTest, Defaults) {
  const NatsConfig n = load(with_nats("    servers: [nats://127.0.0.1:4222]\n")).upstream.nats;
  EXPECT_EQ(n.bucket, "keys");
  EXPECT_EQ(n.stream, "KV_keys");
  EXPECT_EQ(n.origin_domain, "");
  EXPECT_EQ(n.domain, "");
  EXPECT_EQ(n.credentials, "");
  EXPECT_EQ(n.user, "");
  EXPECT_FALSE(n.tls.enabled());
  EXPECT_EQ(n.reconnect_wait, milliseconds(1000));
  EXPECT_EQ(n.max_reconnect, -1);
  EXPECT_EQ(n.heartbeat, milliseconds(1000));
  EXPECT_EQ(n.request_timeout, milliseconds(2000));

  EXPECT_EQ(load(with_nats("    servers: [nats://h]\n    bucket: tenants\n")).upstream.nats.stream, "KV_tenants");
  EXPECT_EQ(load(with_nats("    servers: [nats://h]\n    bucket: b\n    stream: S-1\n")).upstream.nats.stream, "S-1");
}

TEST_F(NatsConfigTest, UserAndPassword) {
  NatsConfig n = load(with_nats("    servers: [nats://h]\n    user: edge\n    password: pw\n")).upstream.nats;
  EXPECT_EQ(n.user, "edge");
  EXPECT_EQ(n.password, "pw");
  n = load(with_nats("    servers: [nats://h]\n    user: edge\n    password_file: pw.txt\n")).upstream.nats;
  EXPECT_EQ(n.password, "");
  EXPECT_EQ(n.password_file, dir_ + "/pw.txt");
}

TEST_F(NatsConfigTest, ExactlyOneUpstream) {
  EXPECT_EQ(error("region: eu\nupstream:\n  file: /k.yaml\n  nats: {servers: [nats://h]}\n"),
            F + "4: upstream: give exactly one of file or nats, not both");
  EXPECT_EQ(error("region: eu\nupstream: {}\n"), F + "2: upstream: expected file: PATH or nats: {...}, got neither");
  EXPECT_EQ(error("region: eu\nupstream:\n  kafka: x\n"),
            F + "3: upstream.kafka: unknown key; valid keys under upstream: file, nats");
}

TEST_F(NatsConfigTest, Servers) {
  const std::string url_what = "expected a nats:// or tls:// URL such as nats://127.0.0.1:4222, got ";
  EXPECT_EQ(error(with_nats("    servers: [http://127.0.0.1:4222]\n")),
            F + "4: upstream.nats.servers[0]: " + url_what + "\"http://127.0.0.1:4222\"");
  EXPECT_EQ(error(with_nats("    servers:\n      - nats://a\n      - nats://user:pw@b:4222\n")),
            F + "6: upstream.nats.servers[1]: " + url_what + "\"nats://user:pw@b:4222\"");
  EXPECT_EQ(error(with_nats("    servers: [nats://h:0]\n")), F + "4: upstream.nats.servers[0]: " + url_what + "\"nats://h:0\"");
  EXPECT_EQ(error(with_nats("    servers: []\n")),
            F + "4: upstream.nats.servers: expected at least one URL, got an empty list");
  EXPECT_EQ(error(with_nats("    servers: nats://h\n")),
            F + "4: upstream.nats.servers: expected a list of URLs, got \"nats://h\"");
  EXPECT_EQ(error(with_nats("    bucket: keys\n")),
            F + "4: upstream.nats.servers: required: a list of nats:// or tls:// URLs");
  EXPECT_TRUE(StartsWith(error(with_nats("    server: [nats://h]\n")),
                         F + "4: upstream.nats.server: unknown key; valid keys under upstream.nats: servers, "));
}

TEST_F(NatsConfigTest, Names) {
  EXPECT_EQ(error(with_nats("    servers: [nats://h]\n    bucket: my.keys\n")),
            F + "5: upstream.nats.bucket: expected a name of 1..64 characters [A-Za-z0-9_-], got \"my.keys\"");
  EXPECT_EQ(error(with_nats("    servers: [nats://h]\n    domain: \"in mum\"\n")),
            F + "5: upstream.nats.domain: expected a name of 1..64 characters [A-Za-z0-9_-], got \"in mum\"");
  EXPECT_EQ(error(with_nats("    servers: [nats://h]\n    stream: \"KV_>\"\n")),
            F + "5: upstream.nats.stream: expected a name of 1..255 characters [A-Za-z0-9_-], got \"KV_>\"");
}

TEST_F(NatsConfigTest, Auth) {
  const std::string s = "    servers: [nats://h]\n";
  EXPECT_EQ(error(with_nats(s + "    user: edge\n")), F + "5: upstream.nats.user: needs password or password_file");
  EXPECT_EQ(error(with_nats(s + "    password: pw\n")), F + "5: upstream.nats.password: needs upstream.nats.user");
  EXPECT_EQ(error(with_nats(s + "    credentials: /c.creds\n    user: edge\n    password: pw\n")),
            F + "6: upstream.nats.user: not allowed with credentials: use either a credentials file or user and "
                "password");
  EXPECT_EQ(error(with_nats(s + "    user: edge\n    password: pw\n    password_file: /pw\n")),
            F + "7: upstream.nats.password_file: not allowed with password: give one of them");
  EXPECT_EQ(error(with_nats(s + "    user: edge\n    password: \"\"\n")),
            F + "6: upstream.nats.password: expected a password, got \"\"");
}

TEST_F(NatsConfigTest, TlsAndTimings) {
  const std::string s = "    servers: [tls://h]\n";
  EXPECT_EQ(error(with_nats(s + "    tls:\n      cert: /c.pem\n")),
            F + "6: upstream.nats.tls.cert: cert and key must be given together");
  EXPECT_EQ(error(with_nats(s + "    tls:\n      ca: /ca.pem\n      crt: /c.pem\n")),
            F + "7: upstream.nats.tls.crt: unknown key; valid keys under upstream.nats.tls: ca, cert, key");
  EXPECT_TRUE(load(with_nats(s + "    tls: {ca: /ca.pem}\n")).upstream.nats.tls.enabled());
  EXPECT_EQ(error(with_nats(s + "    max_reconnect: -2\n")),
            F + "5: upstream.nats.max_reconnect: expected an integer in -1..1000000000, got \"-2\"");
  EXPECT_EQ(error(with_nats(s + "    heartbeat: 10\n")),
            F + "5: upstream.nats.heartbeat: expected a duration such as 60s, 5m, 24h, 90d or 500ms, got \"10\"");
  EXPECT_EQ(error(with_nats(s + "    reconnect_wait: 0s\n")),
            F + "5: upstream.nats.reconnect_wait: expected a duration from 1ms to 1h, got \"0s\"");
}

TEST(NatsUrl, Syntax) {
  for (const char *good : {"nats://127.0.0.1:4222", "nats://localhost", "tls://nats.example.com:4443",
                           "nats://[::1]:4222", "nats://[2001:db8::1]", "nats://a-b.c:65535"})
    EXPECT_TRUE(valid_nats_url(good)) << good;
  for (const char *bad : {"", "nats://", "nats://:4222", "http://h:4222", "NATS://h", "nats:/h", "nats://h:",
                          "nats://h:65536", "nats://h:4222/", "nats://h/x", "nats://u@h", "nats://-h",
                          "nats://h..c", "nats://[::1", "nats://[zz]:1", "nats://[127.0.0.1]:1",
                          "nats://h:42x", "nats://h 1", "nats://h?x=1"})
    EXPECT_FALSE(valid_nats_url(bad)) << bad;
}

}  // namespace
}  // namespace edgekey::daemon::test
