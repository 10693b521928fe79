// nginx in front of edgekeyd, for real: the shipped examples/nginx/edgekey.conf
// (only its socket path, listen port and API address substituted) run by the
// system's nginx on 127.0.0.1, auth_request going to a real edgekeyd over its
// Unix socket, and a second nginx server block standing in for the API and
// echoing the X-Edgekey-* request headers it received.
//
// nginx is a requirement of this test, not an option: without it (or without
// its auth_request module) every case fails and says so. scripts/deps
// installs it; EDGEKEY_NGINX names another binary.
#include "nginx_fixture.hpp"

#include <memory>
#include <nlohmann/json.hpp>

using namespace edgekey;
using namespace edgekey::test;

namespace {

// Replaces the one occurrence of `from`; false (and a test failure naming it)
// when the example no longer has exactly one.
bool substitute_once(std::string &text, const std::string &from, const std::string &to) {
  const size_t at = text.find(from);
  if (at == std::string::npos || text.find(from, at + 1) != std::string::npos) {
    ADD_FAILURE() << "examples/nginx/edgekey.conf should hold `" << from
                  << "` exactly once (the test substitutes it); update the test with the example";
    return false;
  }
  text.replace(at, from.size(), to);
  return true;
}

// The example, pointed at this test's socket and ports, included by nginx's
// main config; then nginx started.
void start_example(NginxProcess &n, const std::string &edgekeyd_socket) {
  std::string site = read_text(EDGEKEY_NGINX_EXAMPLE);
  ASSERT_FALSE(site.empty()) << "cannot read " << EDGEKEY_NGINX_EXAMPLE;
  ASSERT_TRUE(substitute_once(site, "proxy_pass http://unix:/run/edgekey/edgekeyd.sock:/v1/validate;",
                              "proxy_pass http://unix:" + edgekeyd_socket + ":/v1/validate;"));
  ASSERT_TRUE(substitute_once(site, "listen 80;", "listen 127.0.0.1:" + std::to_string(n.port) + ";"));
  ASSERT_TRUE(substitute_once(site, "server 127.0.0.1:8080;", "server 127.0.0.1:" + std::to_string(n.api_port) + ";"));
  DaemonProcess::write_file(n.dir.file("edgekey.conf"), site);
  n.write_config("  include " + n.dir.path() + "/edgekey.conf;\n");
  ASSERT_NO_FATAL_FAILURE(n.start());
}

class NginxAuthRequest : public ::testing::Test {
 protected:
  MintedKey dev = mint_key("key_dev", "developer");        // chat:write, agents:deploy
  MintedKey analyst = mint_key("key_analyst", "analyst");  // neither
  MintedKey revoked = mint_key("key_revoked", "developer");
  MintedKey pub = mint_key("key_pub", "developer", "pk");      // chat:write, from app.example.com
  MintedKey stranger = mint_key("key_stranger", "developer");  // not in the keyset
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<NginxProcess> nginx;  // declared after daemon: stopped first

  void start(const std::string &daemon_extra = "") {
    revoked.record.status = sync::KeyStatus::Revoked;
    revoked.record.revoked_at = int64_t(time(nullptr)) - 60;
    daemon = std::make_unique<DaemonProcess>(daemon_extra);
    daemon->write_keys({dev.record, analyst.record, revoked.record, pub.record});
    ASSERT_NO_FATAL_FAILURE(daemon->start_ready());
    nginx = std::make_unique<NginxProcess>();
    ASSERT_NO_FATAL_FAILURE(start_example(*nginx, daemon->socket));
  }
  virtual std::string daemon_config() const { return ""; }
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(start(daemon_config())); }

  HttpResponse get(const std::string &target, const std::vector<std::string> &headers = {}) {
    return http_get(nginx->port, target, headers);
  }

  // A refusal as the example renders it: edgekey's status and code, in the
  // header and as a JSON body, and no API involved.
  void expect_refusal(const HttpResponse &r, int status, const std::string &code) {
    expect_edgekey_refusal(r, status, code, *nginx);
  }
};

TEST_F(NginxAuthRequest, AGoodKeyReachesTheApiWhichSeesWhoCalled) {
  for (const char *path : {"/v1/chat/completions", "/v1/agents/deploy", "/v1/anything"}) {
    SCOPED_TRACE(path);
    // Identity headers a client sends are replaced by edgekey's.
    HttpResponse r = get(path, {bearer(dev), "X-Edgekey-Key-Id: key_forged", "X-Edgekey-Role: owner"});
    ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
    expect_api_saw(r, {{"uri", path}, {"key_id", "key_dev"}, {"workspace", "ws_test"}, {"role", "developer"},
                       {"type", "secret"}, {"env", "live"}, {"real_ip", "127.0.0.1"}});
  }
}

TEST_F(NginxAuthRequest, NoKeyOrAnUnusableOneIs401WithEdgekeysCode) {
  HttpResponse r = get("/v1/chat");
  expect_refusal(r, 401, "missing_token");
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
  expect_refusal(get("/v1/chat", {bearer(stranger)}), 401, "unknown_key");
  expect_refusal(get("/v1/anything", {"Authorization: Bearer ek_sk_live_nonsense"}), 401, "malformed_token");
  // A forged identity does not stand in for a key.
  expect_refusal(get("/v1/anything", {"X-Edgekey-Key-Id: key_dev"}), 401, "missing_token");
}

TEST_F(NginxAuthRequest, ARevokedKeyIs401RevokedKey) {
  expect_refusal(get("/v1/chat", {bearer(revoked)}), 401, "revoked_key");
  expect_refusal(get("/v1/anything", {bearer(revoked)}), 401, "revoked_key");
}

TEST_F(NginxAuthRequest, EachLocationAsksForItsOwnPermission) {
  expect_refusal(get("/v1/chat", {bearer(analyst)}), 403, "insufficient_permission");
  expect_refusal(get("/v1/agents/deploy", {bearer(analyst)}), 403, "insufficient_permission");
  // A client cannot choose the permission it is checked for.
  expect_refusal(get("/v1/agents/deploy", {bearer(analyst), "X-Edgekey-Permission: agents:read"}), 403,
                 "insufficient_permission");
  // "/" needs any valid key.
  HttpResponse r = get("/v1/evaluations", {bearer(analyst)});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r).value("key_id", ""), "key_analyst");
}

TEST_F(NginxAuthRequest, APublishableKeyOnlyFromItsOriginsAndOnlyForWhatIsPublishable) {
  expect_refusal(get("/v1/chat", {bearer(pub), "Origin: https://evil.example.com"}), 403, "origin_not_allowed");
  expect_refusal(get("/v1/chat", {bearer(pub)}), 403, "origin_not_allowed");  // no Origin at all
  HttpResponse r = get("/v1/chat", {bearer(pub), "Origin: https://app.example.com"});
  EXPECT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
  EXPECT_EQ(json_of(r).value("type", ""), "publishable");
  expect_refusal(get("/v1/agents/deploy", {bearer(pub), "Origin: https://app.example.com"}), 403,
                 "insufficient_permission");
}

// edgekeyd answers 503 keyset_stale (fail_closed, its upstream unreadable for
// longer than staleness.max); nginx's auth_request makes that a 500, and the
// example's @edgekey_500 a 503 with edgekeyd's code again.
class NginxAuthRequestFailClosed : public NginxAuthRequest {
  std::string daemon_config() const override { return "staleness:\n  max: 1s\n  policy: fail_closed\n"; }
};

TEST_F(NginxAuthRequestFailClosed, AStaleKeysetIs503KeysetStale) {
  ASSERT_EQ(get("/v1/chat", {bearer(dev)}).status, 200) << nginx->error_log();

  DaemonProcess::write_file(daemon->keyset, "keys: [\n");  // unreadable: no more upstream contact
  ASSERT_TRUE(eventually([&] { return daemon->validate(dev.token).status == 503; }, 15000ms))
      << "edgekeyd never went stale; its log:\n"
      << daemon->log();
  EXPECT_EQ(header(daemon->validate(dev.token), "X-Edgekey-Code"), "keyset_stale");

  HttpResponse r = get("/v1/chat", {bearer(dev)});
  expect_refusal(r, 503, "keyset_stale");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(nginx->error_log().find("auth request unexpected status: 503"), std::string::npos) << nginx->error_log();
}

// No edgekeyd behind the socket: the subrequest fails with 502, auth_request
// makes it a 500, the example a 503 edgekey_unreachable. Never the API.
TEST_F(NginxAuthRequest, AnUnreachableDaemonIs503EdgekeyUnreachable) {
  ASSERT_EQ(get("/v1/chat", {bearer(dev)}).status, 200) << nginx->error_log();
  daemon->stop(SIGKILL);
  HttpResponse r = get("/v1/chat", {bearer(dev)});
  expect_refusal(r, 503, "edgekey_unreachable");
  EXPECT_EQ(header(r, "Retry-After"), "1");
  EXPECT_NE(nginx->error_log().find("auth request unexpected status: 502"), std::string::npos) << nginx->error_log();
}

}  // namespace
