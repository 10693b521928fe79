// The nginx module (ngx_http_edgekey_module) and the Lua binding
// (bindings/lua/edgekey.lua under ngx_lua), for real: Debian's nginx loads
// the built module and ngx_lua, a real edgekeyd keeps the table, all on
// 127.0.0.1; a stand-in API (nginx_fixture.hpp) echoes the X-Edgekey-*
// headers it received. Locations under /m/ validate with the module, those
// under /l/ with the Lua binding; the Paths tests run through both.
#include "nginx_fixture.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

using namespace edgekey;
using namespace edgekey::test;

namespace {

MintedKey mint(const std::string &id, const std::string &role, const char *type = "sk", const char *env = "live") {
  MintedKey k = mint_key(id, role, type);
  if (std::string(env) == "test") {
    k.token = shm::generate_token("ek", type, env);
    std::array<uint8_t, 32> h;
    shm::TokenHasher().hash(k.token, h.data());
    k.record.hash = sync::format_record_hash(h, sync::HashScheme::Sha256);
    k.record.env = sync::KeyEnv::Test;
  }
  return k;
}

// A table name no edgekeyd serves: the test that needs it writes garbage
// under it in /dev/shm.
std::string corrupt_table() { return "ektest-corrupt-" + std::to_string(getpid()); }

// nginx.conf's http part: the module's locations (/m/...), the Lua
// binding's (/l/...), both proxying to the stand-in API with who called.
std::string http_conf(const std::string &table, int api_port) {
  const std::string api = "proxy_pass http://127.0.0.1:" + std::to_string(api_port) + ";";
  std::string c;
  c += "  lua_package_path \"" EDGEKEY_LUA_DIR "/?.lua;;\";\n";
  c += "  init_by_lua_block {\n"
       "    edgekey = require \"edgekey\"\n"
       "    function edgekey_pass(opts)\n"
       "      local r = edgekey.access(\"" + table + "\", opts)\n"
       "      local set = ngx.req.set_header\n"
       "      set(\"X-Edgekey-Key-Id\", r.key_id); set(\"X-Edgekey-Workspace\", r.workspace)\n"
       "      set(\"X-Edgekey-Role\", r.role); set(\"X-Edgekey-Type\", r.type); set(\"X-Edgekey-Env\", r.env)\n"
       "      set(\"X-Edgekey-Status\", tostring(r.status)); set(\"X-Edgekey-Code\", r.code)\n"
       "      set(\"X-Edgekey-Expires-At\", r.expires_at and tostring(r.expires_at))\n"
       "    end\n"
       "  }\n";
  c += "  edgekey_table " + table + ";\n";
  c += "  server {\n    listen 127.0.0.1:PORT;\n";
  // The module: identity to the API from its variables (replacing a
  // client's own X-Edgekey-* headers).
  c += "    location /m/ {\n      edgekey \"\";\n";
  c += kForwardEdgekeyVariables;
  c += "      " + api + "\n"
       "      location /m/chat { edgekey chat:write; " + api + " }\n"
       "      location /m/deploy { edgekey agents:deploy; " + api + " }\n"
       "      location /m/perm { edgekey $http_x_test_permission; " + api + " }\n"
       "      location /m/live { edgekey_env live; " + api + " }\n"
       "      location /m/ip { edgekey_client_ip $http_x_test_client_ip; " + api + " }\n"
       "      location /m/public { edgekey off; " + api + " }\n"
       "      location /m/hop { try_files $uri /m/chat$uri; }\n"
       "      location /m/same { try_files $uri /m/landed$uri; }\n"
       "      location /m/custom { error_page 401 /m/sorry; " + api + " }\n"
       "      location = /m/sorry { " + api + " }\n"
       "      location /m/corrupt { edgekey_table " + corrupt_table() + "; " + api + " }\n"
       "    }\n";
  // The Lua binding.
  auto lua = [&](const std::string &path, const std::string &opts) {
    c += "    location " + path + " { access_by_lua_block { edgekey_pass(" + opts + ") } " + api + " }\n";
  };
  lua("/l/", "nil");
  lua("/l/chat", "{ permission = \"chat:write\" }");
  lua("/l/deploy", "{ permission = \"agents:deploy\" }");
  lua("/l/perm", "{ permission = ngx.var.http_x_test_permission }");
  lua("/l/live", "{ env = \"live\" }");
  lua("/l/ip", "{ client_ip = ngx.var.http_x_test_client_ip }");
  c += "    location /l/hop { access_by_lua_block { edgekey_pass(nil) } try_files $uri /l/chat$uri; }\n"
       "    location /l/same { access_by_lua_block { edgekey_pass(nil) } try_files $uri /l/landed$uri; }\n";
  // Any key, then the request's Authorization replaced before it lands
  // where any key will do again.
  c += "    location /l/swap { access_by_lua_block { edgekey_pass(nil)\n"
       "      ngx.req.set_header(\"Authorization\", ngx.var.http_x_test_next_authorization) }\n"
       "      try_files $uri /l/landed$uri; }\n";
  // Writes to edgekey.access's answer, then tells the API whose it is and
  // how the write went (in X-Edgekey-Code).
  c += "    location /l/readonly { access_by_lua_block {\n"
       "      local r = edgekey.access(\"" + table + "\")\n"
       "      local ok, err = pcall(function() r.key_id = \"key_someone_else\" end)\n"
       "      local set = ngx.req.set_header\n"
       "      set(\"X-Edgekey-Key-Id\", r.key_id); set(\"X-Edgekey-Role\", r.role)\n"
       "      set(\"X-Edgekey-Code\", ok and \"written\" or err) } " + api + " }\n";
  c += "  }\n";
  return c;
}

class NginxEdgekey : public ::testing::Test {
 protected:
  MintedKey dev = mint("key_dev", "developer");        // chat:write, agents:deploy
  MintedKey analyst = mint("key_analyst", "analyst");  // neither
  MintedKey revoked = mint("key_revoked", "developer");
  MintedKey expired = mint("key_expired", "developer");
  MintedKey pub = mint("key_pub", "developer", "pk");  // chat:write, from app.example.com
  MintedKey tester = mint("key_tester", "developer", "sk", "test");
  MintedKey fenced = mint("key_fenced", "developer");    // from 203.0.113.0/24 only
  MintedKey elsewhere = mint("key_elsewhere", "developer");  // regions: [us-east]
  MintedKey rotating = mint("key_rotating", "viewer");   // expires in a day
  MintedKey stranger = mint("key_stranger", "developer");    // not in the keyset
  std::unique_ptr<DaemonProcess> daemon;
  std::unique_ptr<NginxProcess> nginx;  // declared after daemon: stopped first
  int workers = 1;

  virtual std::string daemon_config() const { return ""; }

  std::vector<sync::KeyRecord> records() {
    const int64_t now = int64_t(time(nullptr));
    revoked.record.status = sync::KeyStatus::Revoked;
    revoked.record.revoked_at = now - 60;
    expired.record.expires_at = now - 60;
    fenced.record.allowed_cidrs = {"203.0.113.0/24"};
    elsewhere.record.regions = {"us-east"};
    rotating.record.expires_at = now + 86400;
    return {dev.record,     analyst.record, revoked.record,   expired.record, pub.record,
            tester.record,  fenced.record,  elsewhere.record, rotating.record};
  }

  void make_daemon() {
    daemon = std::make_unique<DaemonProcess>(daemon_config());
    daemon->write_keys(records());
  }
  void start_nginx() {
    nginx = std::make_unique<NginxProcess>();
    nginx->env = {"LD_LIBRARY_PATH=" EDGEKEY_LIB_DIR};
    std::string http = http_conf(daemon->address(), nginx->api_port);
    const std::string port = std::to_string(nginx->port);
    http.replace(http.find("PORT"), 4, port);
    nginx->write_config(http,
                        "load_module " EDGEKEY_NGINX_MODULE_PATH ";\n"
                        "load_module " EDGEKEY_NGINX_MODULES_DIR "/ndk_http_module.so;\n"
                        "load_module " EDGEKEY_NGINX_MODULES_DIR "/ngx_http_lua_module.so;\n",
                        workers);
    ASSERT_NO_FATAL_FAILURE(nginx->start());
  }
  void SetUp() override {
    make_daemon();
    ASSERT_NO_FATAL_FAILURE(daemon->start_ready());
    ASSERT_NO_FATAL_FAILURE(start_nginx());
  }

  HttpResponse get(const std::string &target, const std::vector<std::string> &headers = {}) {
    return http_get(nginx->port, target, headers);
  }

  // A refusal: edgekey's status, code and headers, and the very body
  // edgekeyd's /v1/validate gives for the same request; the API not reached.
  void expect_refusal(const HttpResponse &r, int status, const std::string &code,
                      const std::vector<std::string> &socket_headers = {}) {
    expect_edgekey_refusal(r, status, code, *nginx);
    const HttpResponse s = daemon->get("/v1/validate", socket_headers);
    EXPECT_EQ(r.body, s.body) << "the socket answers the same request otherwise";
    for (const char *h : {"X-Edgekey-Code", "X-Edgekey-Key-Id", "X-Edgekey-Workspace", "X-Edgekey-Role",
                          "X-Edgekey-Type", "X-Edgekey-Env", "WWW-Authenticate", "Retry-After"})
      EXPECT_EQ(header(r, h), header(s, h)) << h << " differs from the socket's";
  }
};

// Every row of the validation table, through the module (/m) and the Lua
// binding (/l).
class NginxPaths : public NginxEdgekey, public ::testing::WithParamInterface<const char *> {
 protected:
  std::string at(const std::string &path) const { return std::string("/") + GetParam() + path; }
};

TEST_P(NginxPaths, AGoodKeyReachesTheApiWhichSeesWhoCalled) {
  HttpResponse r = get(at("/chat/completions"), {bearer(dev), "X-Edgekey-Key-Id: key_forged", "X-Edgekey-Role: owner"});
  ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
  expect_api_saw(r, {{"uri", at("/chat/completions")}, {"key_id", "key_dev"}, {"workspace", "ws_test"},
                     {"role", "developer"}, {"type", "secret"}, {"env", "live"}, {"status", "200"}, {"code", "ok"},
                     {"expires_at", ""}});
  // An expiry reaches the API as unix seconds.
  r = get(at("/"), {bearer(rotating)});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r).value("expires_at", ""), std::to_string(*rotating.record.expires_at));
  EXPECT_EQ(json_of(r).value("role", ""), "viewer");
}

TEST_P(NginxPaths, EachUnusableKeyIs401WithItsCodeAndChallenge) {
  HttpResponse r = get(at("/chat"));
  expect_refusal(r, 401, "missing_token");
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer");
  const std::string malformed = "Authorization: Bearer ek_sk_live_nonsense";
  r = get(at("/chat"), {malformed});
  expect_refusal(r, 401, "malformed_token", {malformed});
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer error=\"invalid_token\"");
  expect_refusal(get(at("/chat"), {bearer(stranger)}), 401, "unknown_key", {bearer(stranger)});
  r = get(at("/"), {bearer(revoked)});
  expect_refusal(r, 401, "revoked_key", {bearer(revoked)});
  EXPECT_EQ(json_of(r).value("key_id", ""), "key_revoked");
  EXPECT_EQ(header(r, "X-Edgekey-Key-Id"), "key_revoked");
  expect_refusal(get(at("/"), {bearer(expired)}), 401, "expired_key", {bearer(expired)});
  // A forged identity does not stand in for a key.
  expect_refusal(get(at("/"), {"X-Edgekey-Key-Id: key_dev"}), 401, "missing_token");
}

TEST_P(NginxPaths, EachKeyNotAllowedHereIs403WithItsCode) {
  HttpResponse r = get(at("/deploy"), {bearer(analyst)});
  expect_refusal(r, 403, "insufficient_permission", {bearer(analyst), "X-Edgekey-Permission: agents:deploy"});
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer error=\"insufficient_scope\"");
  // The permission may come from a variable (here a request header).
  expect_refusal(get(at("/perm"), {bearer(analyst), "X-Test-Permission: chat:write"}), 403,
                 "insufficient_permission", {bearer(analyst), "X-Edgekey-Permission: chat:write"});
  EXPECT_EQ(get(at("/perm"), {bearer(analyst), "X-Test-Permission: agents:read"}).status, 200);

  const std::string app = "Origin: https://app.example.com";
  expect_refusal(get(at("/chat"), {bearer(pub)}), 403, "origin_not_allowed", {bearer(pub)});
  expect_refusal(get(at("/chat"), {bearer(pub), "Origin: https://evil.example.com"}), 403, "origin_not_allowed",
                 {bearer(pub), "Origin: https://evil.example.com"});
  r = get(at("/chat"), {bearer(pub), app});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r).value("type", ""), "publishable");
  expect_refusal(get(at("/deploy"), {bearer(pub), app}), 403, "insufficient_permission",
                 {bearer(pub), app, "X-Edgekey-Permission: agents:deploy"});

  // The client address: $remote_addr (127.0.0.1) by default, or what
  // edgekey_client_ip / the client_ip option says.
  expect_refusal(get(at("/"), {bearer(fenced)}), 403, "ip_not_allowed", {bearer(fenced), "X-Real-IP: 127.0.0.1"});
  EXPECT_EQ(get(at("/ip"), {bearer(fenced), "X-Test-Client-Ip: 203.0.113.9"}).status, 200);
  expect_refusal(get(at("/ip"), {bearer(fenced), "X-Test-Client-Ip: 198.51.100.1"}), 403, "ip_not_allowed",
                 {bearer(fenced), "X-Real-IP: 198.51.100.1"});

  expect_refusal(get(at("/live"), {bearer(tester)}), 403, "wrong_env", {bearer(tester), "X-Edgekey-Env: live"});
  EXPECT_EQ(get(at("/"), {bearer(tester)}).status, 200);
  expect_refusal(get(at("/"), {bearer(elsewhere)}), 403, "wrong_region", {bearer(elsewhere)});
}

// An internal redirect (try_files here; index and error_page alike) runs
// the access phase again where it lands: the first answer is reused only
// when the inputs there are the same, else the key is checked again.
TEST_P(NginxPaths, AnInternalRedirectIsCheckedWhereItLands) {
  HttpResponse r = get(at("/same/x"), {bearer(dev)});
  ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
  expect_api_saw(r, {{"uri", at("/landed") + at("/same/x")}, {"key_id", "key_dev"}, {"role", "developer"},
                     {"status", "200"}, {"code", "ok"}});

  // Any key where it starts, chat:write where it lands.
  r = get(at("/hop/x"), {bearer(dev)});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r).value("uri", ""), at("/chat") + at("/hop/x"));
  EXPECT_EQ(json_of(r).value("key_id", ""), "key_dev");
  expect_refusal(get(at("/hop/x"), {bearer(analyst)}), 403, "insufficient_permission",
                 {bearer(analyst), "X-Edgekey-Permission: chat:write"});
  const std::string app = "Origin: https://app.example.com";
  EXPECT_EQ(get(at("/hop/x"), {bearer(pub), app}).status, 200);
  expect_refusal(get(at("/same/x"), {bearer(pub)}), 403, "origin_not_allowed", {bearer(pub)});
}

// The Lua binding reuses the answer across an internal redirect only for
// the same Authorization value in nginx's memory: one replaced in between
// (ngx.req.set_header) is checked again.
TEST_F(NginxEdgekey, LuaChecksAnAuthorizationReplacedBeforeAnInternalRedirectAgain) {
  HttpResponse r = get("/l/swap/x", {bearer(dev), "X-Test-Next-Authorization: Bearer " + revoked.token});
  expect_refusal(r, 401, "revoked_key", {bearer(revoked)});
  EXPECT_EQ(json_of(r).value("key_id", ""), "key_revoked");
  r = get("/l/swap/x", {bearer(dev), "X-Test-Next-Authorization: Bearer " + analyst.token});
  ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
  expect_api_saw(r, {{"uri", "/l/landed/l/swap/x"}, {"key_id", "key_analyst"}, {"role", "analyst"}});
  // The same value set again is another value in memory: checked again, same answer.
  r = get("/l/swap/x", {bearer(dev), "X-Test-Next-Authorization: Bearer " + dev.token});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r).value("key_id", ""), "key_dev");
}

TEST_P(NginxPaths, ARevocationIsRefusedOnTheNextRequest) {
  ASSERT_EQ(get(at("/chat"), {bearer(dev)}).status, 200);
  auto keys = records();
  keys[0].status = sync::KeyStatus::Revoked;
  keys[0].revoked_at = int64_t(time(nullptr));
  daemon->write_keys(keys);
  // Once edgekeyd has applied it (its own answer says so), nginx's very
  // next request reads the same table.
  ASSERT_TRUE(eventually([&] { return daemon->validate(dev.token).status == 401; }, 10000ms)) << daemon->log();
  expect_refusal(get(at("/chat"), {bearer(dev)}), 401, "revoked_key", {bearer(dev)});
}

TEST_P(NginxPaths, NoGoodKeyIsRefusedWhileEdgekeydRestarts) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::thread load([&] {
    while (!stop) {
      HttpResponse r = http_request(nginx->port, "GET", at("/chat"), {bearer(dev)}, true);
      (r.status == 200 ? ok : r.status == 401 || r.status == 403 ? refused : other)++;
    }
  });
  ASSERT_TRUE(eventually([&] { return ok > 20; }, 10000ms));
  daemon->stop();
  daemon->drain_notify();
  const int during = ok;
  ASSERT_TRUE(eventually([&] { return ok > during + 20; }, 10000ms)) << "no answers with edgekeyd stopped";
  ASSERT_NO_FATAL_FAILURE(daemon->start_ready());
  const int after = ok;
  EXPECT_TRUE(eventually([&] { return ok > after + 20; }, 10000ms));
  stop = true;
  load.join();
  EXPECT_EQ(refused, 0) << "a good key was refused while edgekeyd restarted";
  EXPECT_EQ(other, 0) << "answers other than 200: " << other << "; nginx log:\n" << nginx->error_log();
}

INSTANTIATE_TEST_SUITE_P(ModuleAndLua, NginxPaths, ::testing::Values("m", "l"),
                         [](const auto &info) { return info.param[0] == 'm' ? "Module" : "Lua"; });

// staleness.max passed with fail_closed: 503 keyset_stale with Retry-After.
class NginxPathsFailClosed : public NginxPaths {
  std::string daemon_config() const override { return "staleness:\n  max: 1s\n  policy: fail_closed\n"; }
};

TEST_P(NginxPathsFailClosed, AStaleKeysetIs503KeysetStale) {
  ASSERT_EQ(get(at("/chat"), {bearer(dev)}).status, 200) << nginx->error_log();
  DaemonProcess::write_file(daemon->keyset, "keys: [\n");  // unreadable: no more upstream contact
  ASSERT_TRUE(eventually([&] { return daemon->validate(dev.token).status == 503; }, 15000ms)) << daemon->log();
  HttpResponse r = get(at("/chat"), {bearer(dev)});
  expect_refusal(r, 503, "keyset_stale", {bearer(dev), "X-Edgekey-Permission: chat:write"});
  EXPECT_EQ(header(r, "Retry-After"), "1");
  if (GetParam()[0] == 'm') {  // the module says so once, not per request
    get(at("/chat"), {bearer(dev)});
    EXPECT_EQ(count_of(nginx->error_log(), "is older than its staleness bound"), 1u) << nginx->error_log();
  }
}

INSTANTIATE_TEST_SUITE_P(ModuleAndLua, NginxPathsFailClosed, ::testing::Values("m", "l"),
                         [](const auto &info) { return info.param[0] == 'm' ? "Module" : "Lua"; });

// nginx up before edgekeyd: 503 keyset_unavailable, then the table is found
// (tried again at most about once a second) and logged once per worker.
class NginxBeforeEdgekeyd : public NginxEdgekey {
  void SetUp() override {
    make_daemon();
    ASSERT_NO_FATAL_FAILURE(start_nginx());
  }
};

TEST_F(NginxBeforeEdgekeyd, AMissingTableIs503UntilItAppears) {
  for (const char *p : {"/m/chat", "/l/chat"}) {
    HttpResponse r = get(p, {bearer(dev)});
    EXPECT_EQ(r.status, 503) << p << ": " << r.body;
    EXPECT_EQ(header(r, "X-Edgekey-Code"), "keyset_unavailable") << p;
    EXPECT_EQ(header(r, "Retry-After"), "1") << p;
    EXPECT_EQ(r.body, "{\"status\":503,\"code\":\"keyset_unavailable\"}\n") << p;
  }
  for (int i = 0; i < 20; ++i) get("/m/chat", {bearer(dev)});
  ASSERT_NO_FATAL_FAILURE(daemon->start_ready());
  for (const char *p : {"/m/chat", "/l/chat"})
    EXPECT_TRUE(eventually([&] { return get(p, {bearer(dev)}).status == 200; }, 5000ms)) << p << nginx->error_log();
  const std::string log = nginx->error_log();
  EXPECT_EQ(count_of(log, "edgekey: cannot open table \"" + daemon->address() + "\""), 2u)  // module, Lua
      << "logged once per change of state, not per request:\n" << log;
  EXPECT_EQ(count_of(log, "edgekey: table \"" + daemon->address() + "\" opened"), 2u) << log;
}

// Something that is not a table under the name: 503 keyset_unavailable,
// the reason logged once, nginx and the other locations unharmed.
TEST_F(NginxEdgekey, ACorruptTableIs503AndLoggedOnce) {
  const std::string path = "/dev/shm/" + corrupt_table();
  DaemonProcess::write_file(path, std::string(8192, 'x'));
  for (int i = 0; i < 3; ++i) {
    HttpResponse r = get("/m/corrupt/x", {bearer(dev)});
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.body, "{\"status\":503,\"code\":\"keyset_unavailable\"}\n");
  }
  // The module tries again at most once a second: the file's reason appears.
  const bool seen = eventually(
      [&] {
        get("/m/corrupt/x", {bearer(dev)});
        return nginx->error_log().find("is not an edgekey table") != std::string::npos ||
               nginx->error_log().find("truncated or inconsistent") != std::string::npos;
      },
      5000ms);
  unlink(path.c_str());
  EXPECT_TRUE(seen) << nginx->error_log();
  EXPECT_EQ(get("/m/chat", {bearer(dev)}).status, 200);
  const std::string log = nginx->error_log();
  EXPECT_LE(count_of(log, "edgekey: cannot open table \"" + corrupt_table() + "\""), 2u)  // missing, then not a table
      << log;
  EXPECT_EQ(count_of(log, "[alert]"), 0u) << "a worker died:\n" << log;
}

// edgekey.access gives requests with the same answer the same table, so
// the table is read-only: a write raises an error and changes nothing that
// this request or the next one reads.
TEST_F(NginxEdgekey, LuaAccessAnswerIsReadOnly) {
  for (const MintedKey *k : {&dev, &dev, &analyst, &dev}) {
    HttpResponse r = get("/l/readonly", {bearer(*k)});
    ASSERT_EQ(r.status, 200) << r.body << "\nnginx log:\n" << nginx->error_log();
    expect_api_saw(r, {{"key_id", k->record.id}, {"role", k->record.role}});
    EXPECT_NE(json_of(r).value("code", "").find("the answer of edgekey.access() is read-only"), std::string::npos)
        << r.body;
  }
}

TEST_F(NginxEdgekey, EdgekeyOffInAnInnerLocationLetsRequestsThrough) {
  HttpResponse r = get("/m/public/page");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json_of(r);
  EXPECT_EQ(j.value("api", false), true);
  EXPECT_EQ(j.value("key_id", "x"), "");  // no validation, no identity
  EXPECT_EQ(j.value("status", "x"), "");
  expect_refusal(get("/m/other"), 401, "missing_token");  // the enclosing location still validates
}

// A user's own error_page for 401 takes over (as with auth_basic); the
// variables survive the redirect and the error page is not refused again.
TEST_F(NginxEdgekey, AUsersErrorPageTakesOverTheRefusal) {
  HttpResponse r = get("/m/custom", {bearer(revoked)});
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(header(r, "WWW-Authenticate"), "Bearer error=\"invalid_token\"");
  auto j = json_of(r);
  EXPECT_EQ(j.value("api", false), true) << "the error page's content: " << r.body;
  EXPECT_EQ(j.value("uri", ""), "/m/sorry");  // the error page, proxied
  EXPECT_EQ(j.value("code", ""), "revoked_key");
  EXPECT_EQ(j.value("key_id", ""), "key_revoked");
}

TEST_F(NginxEdgekey, ReloadUnderLoadLosesNoRequest) {
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, other{0};
  std::thread load([&] {
    int i = 0;
    while (!stop) {
      HttpResponse r = http_request(nginx->port, "GET", ++i % 2 ? "/m/chat" : "/l/chat", {bearer(dev)}, true);
      (r.status == 200 ? ok : other)++;
    }
  });
  ASSERT_TRUE(eventually([&] { return ok > 20; }, 10000ms));
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(nginx->reload()) << nginx->error_log();
    const int now = ok;
    ASSERT_TRUE(eventually([&] { return ok > now + 20; }, 10000ms));
  }
  stop = true;
  load.join();
  EXPECT_EQ(other, 0) << "requests failed across nginx -s reload; log:\n" << nginx->error_log();
}

class NginxTwoWorkers : public NginxEdgekey {
  void SetUp() override {
    workers = 2;
    NginxEdgekey::SetUp();
  }
};

TEST_F(NginxTwoWorkers, EachWorkerOpensItsOwnValidator) {
  for (int i = 0; i < 40; ++i) {
    ASSERT_EQ(get(i % 2 ? "/m/chat" : "/l/chat", {bearer(dev)}).status, 200) << nginx->error_log();
    ASSERT_EQ(get("/m/deploy", {bearer(analyst)}).status, 403);
  }
  EXPECT_EQ(count_of(nginx->error_log(), "edgekey: table \"" + daemon->address() + "\" opened"), 2u)
      << nginx->error_log();
}

// Tokens never reach nginx's logs (tests/logscan checks every log too).
TEST_F(NginxEdgekey, NoTokenInNginxsLogs) {
  for (const MintedKey *k : {&dev, &revoked, &stranger, &analyst})
    for (const char *p : {"/m/chat", "/l/chat", "/m/deploy", "/l/deploy"}) get(p, {bearer(*k)});
  nginx->stop();  // flushes the logs
  const std::string logs = nginx->error_log() + read_text(nginx->access_path);
  EXPECT_NE(logs.find("GET /m/chat"), std::string::npos) << "the access log was not written";
  for (const MintedKey *k : {&dev, &revoked, &stranger, &analyst})
    EXPECT_EQ(logs.find(k->token.substr(11)), std::string::npos) << "a token in nginx's logs";
}

}  // namespace

namespace {

// `nginx -t` on an http block; its exit status, its output in `out`.
int nginx_check(const std::string &http, std::string &out) {
  NginxProcess n;
  n.write_config(http, "load_module " EDGEKEY_NGINX_MODULE_PATH ";\n");
  SpawnOptions o;
  o.env = {"LD_LIBRARY_PATH=" EDGEKEY_LIB_DIR};
  o.log_path = n.out_path;
  o.stdout_to_log = true;
  const pid_t pid = spawn({nginx_path(), "-t", "-p", n.dir.path(), "-c", n.dir.file("nginx.conf"), "-g",
                           "pid " + n.dir.file("nginx.pid") + "; error_log stderr;"},
                          o);
  int status = 0;
  if (pid > 0) waitpid(pid, &status, 0);
  out = read_text(n.out_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(NginxEdgekeyConfig, EdgekeyWithoutATableIsAConfigErrorThatSaysWhatToAdd) {
  std::string out;
  EXPECT_NE(nginx_check("  server { listen 127.0.0.1:1; location / { edgekey chat:write; } }\n", out), 0);
  EXPECT_NE(out.find("\"edgekey\" needs \"edgekey_table\""), std::string::npos) << out;
  EXPECT_NE(nginx_check("  edgekey_env staging;\n", out), 0);
  EXPECT_NE(out.find("invalid value \"staging\""), std::string::npos) << out;
  EXPECT_EQ(nginx_check("  edgekey_table t;\n  edgekey \"\";\n  server { listen 127.0.0.1:1;\n"
                        "    location /a { edgekey $http_x_perm; edgekey_env live; edgekey_client_ip $http_x_ip; }\n"
                        "    location /b { edgekey off; } }\n",
                        out),
            0)
      << out;
}

}  // namespace
