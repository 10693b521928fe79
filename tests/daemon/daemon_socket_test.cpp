// edgekeyd end to end, its socket: file mode, limits and timeouts from the
// config, and the once-a-minute log and metrics of a revoked key's use.
#include "daemon_fixture.hpp"
#include "daemon_test_helpers.hpp"

#include <edgekey/validator.hpp>
#include <nlohmann/json.hpp>

#include "sync/upstream/snapshot.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

using namespace edgekey;
using namespace edgekey::test;

TEST(Daemon, SocketModeAndLimitsComeFromTheConfig) {
  DaemonProcess d;
  write_config_with(d, "  mode: \"0600\"\n",
                    "limits:\n  max_connections: 2\n  max_header_bytes: 1024\n  max_body_bytes: 16\n");
  MintedKey k = mint_key("key_limits");
  d.write_keys({k.record});
  d.start_ready();

  struct stat st {};
  ASSERT_EQ(stat(d.socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);  // the default is 0660

  const std::string get = "GET /v1/validate HTTP/1.1\r\nAuthorization: Bearer " + k.token + "\r\n\r\n";
  {  // two keep-alive connections are the limit: a third is answered 503 and closed
    Client a(d.socket), b(d.socket);
    for (Client *c : {&a, &b}) {
      ASSERT_TRUE(c->send(get));
      auto r = c->read_response();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
    }
    Client over(d.socket);
    auto r = over.read_response();
    ASSERT_TRUE(r) << d.log();
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("Connection").value_or(""), "close");
    EXPECT_TRUE(over.wait_closed());
  }
  // 1100 bytes of header: under the default 8 KiB, over this config's 1 KiB.
  auto big = one_request(d, "GET /v1/validate HTTP/1.1\r\nX-Pad: " + std::string(1100, 'x') + "\r\n\r\n");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 431);
  // A 100-byte body: under the default 1 KiB, over this config's 16 bytes;
  // refused on its Content-Length, before any of it is sent.
  auto body = one_request(d, "GET /v1/validate HTTP/1.1\r\nContent-Length: 100\r\n\r\n");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->status, 413);
  auto ok = one_request(d, get);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto m = one_request(d, "GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(m);
  // (at least once: the retries above may meet the limit while a and b close)
  EXPECT_GE(sample_value(m->body, "edgekey_socket_rejected_total{reason=\"overload\"}"), 1) << m->body;
  EXPECT_TRUE(has_sample(m->body, "edgekey_socket_rejected_total{reason=\"header_too_large\"} 1")) << m->body;
  EXPECT_TRUE(has_sample(m->body, "edgekey_socket_rejected_total{reason=\"body_too_large\"} 1")) << m->body;
}

TEST(Daemon, IdleAndSlowClientTimeoutsComeFromTheConfig) {
  DaemonProcess d("limits:\n  request_timeout: 300ms\n  idle_timeout: 500ms\n");
  MintedKey k = mint_key("key_timeouts");
  d.write_keys({k.record});
  d.start_ready();
  {  // half a request, then nothing: 408 (the default would wait 10 s)
    Client slow(d.socket);
    ASSERT_TRUE(slow.send("GET /v1/validate HTTP/1.1\r\nAuthorization: Bear"));
    auto r = slow.read_response(5000ms);
    ASSERT_TRUE(r) << d.log();
    EXPECT_EQ(r->status, 408);
    EXPECT_TRUE(slow.wait_closed());
  }
  {  // a keep-alive connection left idle is closed silently (the default: after 60 s)
    Client idle(d.socket);
    ASSERT_TRUE(idle.send("GET /v1/validate HTTP/1.1\r\nAuthorization: Bearer " + k.token + "\r\n\r\n"));
    auto r = idle.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_TRUE(idle.wait_closed(5000ms));
    EXPECT_TRUE(idle.buffered().empty());
  }
  EXPECT_EQ(d.validate(k.token).status, 200);
  const std::string m = d.get("/metrics").body;
  EXPECT_TRUE(has_sample(m, "edgekey_socket_rejected_total{reason=\"timeout\"} 1")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_socket_idle_closed_total 1")) << m;
}

TEST(Daemon, ARevokedKeysUseIsLoggedOncePerKeyAndCounted) {
  DaemonProcess d;
  MintedKey one = mint_key("key_rv_one"), two = mint_key("key_rv_two"), ok = mint_key("key_rv_ok");
  for (MintedKey *k : {&one, &two}) {
    k->record.status = sync::KeyStatus::Revoked;
    k->record.revoked_at = int64_t(time(nullptr));
  }
  d.write_keys({one.record, two.record, ok.record});
  d.start_ready();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d.validate(one.token).header("X-Edgekey-Code").value_or(""), "revoked_key");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d.validate(two.token).header("X-Edgekey-Code").value_or(""), "revoked_key");
  EXPECT_EQ(d.validate(ok.token).status, 200);

  // Logged before the answer went out: once per key within the minute.
  const std::string log = d.log();
  EXPECT_EQ(occurrences(log, "revoked key key_rv_one (workspace ws_test) was used"), 1u) << log;
  EXPECT_EQ(occurrences(log, "revoked key key_rv_two (workspace ws_test) was used"), 1u) << log;
  EXPECT_EQ(occurrences(log, "key_rv_ok"), 0u) << log;
  for (const MintedKey *k : {&one, &two, &ok}) {
    EXPECT_EQ(log.find(k->token), std::string::npos) << "a token reached the log";
    EXPECT_EQ(log.find(k->token.substr(11)), std::string::npos) << "a token's secret part reached the log";
  }

  const std::string m = d.get("/metrics").body;
  EXPECT_TRUE(has_sample(m, "edgekey_revoked_key_uses_total 8")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_validations_total{path=\"socket\",status=\"401\",code=\"revoked_key\"} 8")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_validations_total{path=\"socket\",status=\"200\",code=\"ok\"} 1")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_table_keys{state=\"revoked\"} 2")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_table_keys{state=\"live\"} 1")) << m;
  const auto status = nlohmann::json::parse(d.get("/v1/status").body);
  EXPECT_TRUE(has_sample(m, "edgekey_table_generation " + std::to_string(status["table"]["generation"].get<uint64_t>())))
      << m;
  EXPECT_TRUE(has_sample(m, "edgekey_socket_connections_open 1")) << m;  // this request's
  EXPECT_TRUE(has_sample(m, "edgekey_socket_connections_total 10")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_socket_request_duration_seconds_count 9")) << m;
  EXPECT_TRUE(has_sample(m, "edgekey_ready 1")) << m;
  EXPECT_NE(m.find("\nedgekey_last_sync_age_seconds "), std::string::npos) << m;
}

// Envoy's ext_authz filter in HTTP mode (path_prefix: /v1/validate) sends
// the original method, its path after the prefix, Content-Length: 0 (or a
// buffered body with with_request_body) and the allowed headers. Envoy is
// not in Debian: these are the request shapes its documentation describes,
// sent by a plain client.
TEST(Daemon, ValidatesEnvoyExtAuthzRequestShapes) {
  DaemonProcess d;
  MintedKey dev = mint_key("key_envoy", "developer");
  MintedKey analyst = mint_key("key_analyst", "analyst");
  d.write_keys({dev.record, analyst.record});
  d.start_ready();
  auto ask = [&](const std::string &head, const std::string &body = "") {
    auto r = one_request(d, head + "Host: api.example.com\r\nx-envoy-expected-rq-timeout-ms: 200\r\n"
                                   "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(r.has_value()) << head.substr(0, head.find('\r'));  // the request line: no token
    return r.value_or(HttpResponse{});
  };
  const std::string auth = "Authorization: Bearer " + dev.token + "\r\n";

  HttpResponse r = ask("POST /v1/validate/v1/agents HTTP/1.1\r\n" + auth + "x-forwarded-for: 203.0.113.7\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Edgekey-Key-Id").value_or(""), "key_envoy");
  EXPECT_EQ(r.header("X-Edgekey-Workspace").value_or(""), "ws_test");
  r = ask("PUT /v1/validate/v1/agents/a1?force=1 HTTP/1.1\r\n" + auth, "{\"name\":\"a1\"}");  // a body is ignored
  EXPECT_EQ(r.status, 200) << r.body;
  r = ask("GET /v1/validate/ HTTP/1.1\r\n" + auth);
  EXPECT_EQ(r.status, 200) << r.body;

  // Refusals carry RFC 6750's challenge.
  r = ask("DELETE /v1/validate/v1/agents/a1 HTTP/1.1\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("X-Edgekey-Code").value_or(""), "missing_token");
  EXPECT_EQ(r.header("WWW-Authenticate").value_or(""), "Bearer");
  r = ask("POST /v1/validate/v1/chat HTTP/1.1\r\nAuthorization: Bearer ek_sk_live_nonsense\r\n");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("WWW-Authenticate").value_or(""), "Bearer error=\"invalid_token\"");
  r = ask("POST /v1/validate/v1/agents/deploy HTTP/1.1\r\nAuthorization: Bearer " + analyst.token +
          "\r\nX-Edgekey-Permission: agents:deploy\r\n");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.header("WWW-Authenticate").value_or(""), "Bearer error=\"insufficient_scope\"");
  EXPECT_EQ(nlohmann::json::parse(r.body).value("code", ""), "insufficient_permission");

  // Only /v1/validate and what is under it: other routes keep GET only.
  EXPECT_EQ(ask("GET /v1/validatex HTTP/1.1\r\n" + auth).status, 404);
  EXPECT_EQ(ask("POST /v1/status HTTP/1.1\r\n").status, 405);
}
