// nginx_conformance -- the conformance runner of the nginx module and of the
// Lua binding under ngx_lua (tests/conformance/README.md: the case file,
// the environment conformance_env sets, one run per table phase).
//
// Debian's nginx loads the built module and ngx_lua; every case of the phase
// goes to /m/<env>/ (the module: `edgekey $http_x_test_permission`,
// `edgekey_client_ip $http_x_test_client_ip`, `edgekey_env <env>`) and to
// /l/<env>/ (edgekey.lua's validate with the same inputs). A refusal's
// answer is the JSON body nginx sends (its X-Edgekey-Code must agree); a
// 200's is what the stand-in API received from the $edgekey_* variables (or
// the Lua result). Each differing field is a test failure naming the case,
// the path and the field, never a token. A gtest program: it exits 1 on any
// difference, or when the phase has no case.
#include "nginx_fixture.hpp"
#include "tests/conformance/case_tokens.hpp"

#include <fstream>
#include <nlohmann/json.hpp>

using namespace edgekey::test;
using json = nlohmann::json;

namespace {

std::string env_var(const char *name) {
  const char *v = getenv(name);
  return v ? v : "";
}

json read_json(const std::string &path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

// nginx's http part: per env (any, live, test) a module location and a Lua
// one, both proxying a 200 to the stand-in API with the answer's fields.
std::string http_conf(const std::string &table, int port, int api_port) {
  const std::string api = "proxy_pass http://127.0.0.1:" + std::to_string(api_port) + ";";
  std::string c = "  lua_package_path \"" EDGEKEY_LUA_DIR "/?.lua;;\";\n";
  c += "  init_by_lua_block {\n"
       "    edgekey = require \"edgekey\"\n"
       "    function conformance(env)\n"
       "      if not V then V = edgekey.open(\"" + table + "\") end\n"
       "      if not V then return edgekey.access(\"" + table + "\") end  -- its 503 keyset_unavailable\n"
       "      local var = ngx.var\n"
       "      local r = V:validate(var.http_authorization, { permission = var.http_x_test_permission,\n"
       "        client_ip = var.http_x_test_client_ip, origin = var.http_origin, env = env })\n"
       "      if r.status ~= 200 then return V:deny(r) end\n"
       "      local set = ngx.req.set_header\n"
       "      set(\"X-Edgekey-Key-Id\", r.key_id); set(\"X-Edgekey-Workspace\", r.workspace)\n"
       "      set(\"X-Edgekey-Role\", r.role); set(\"X-Edgekey-Type\", r.type); set(\"X-Edgekey-Env\", r.env)\n"
       "      set(\"X-Edgekey-Status\", tostring(r.status)); set(\"X-Edgekey-Code\", r.code)\n"
       "      set(\"X-Edgekey-Expires-At\", r.expires_at and string.format(\"%d\", r.expires_at))\n"
       "    end\n"
       "  }\n";
  c += "  edgekey_table " + table + ";\n";
  c += "  server {\n    listen 127.0.0.1:" + std::to_string(port) + ";\n";
  c += "    location /m/ {\n"
       "      edgekey $http_x_test_permission;\n"
       "      edgekey_client_ip $http_x_test_client_ip;\n";
  c += kForwardEdgekeyVariables;
  c += "      " + api + "\n"
       "      location /m/live/ { edgekey_env live; " + api + " }\n"
       "      location /m/test/ { edgekey_env test; " + api + " }\n"
       "    }\n";
  for (const char *env : {"any", "live", "test"}) {
    const std::string arg = std::string(env) == "any" ? "nil" : std::string("\"") + env + "\"";
    c += std::string("    location /l/") + env + "/ { access_by_lua_block { conformance(" + arg + ") } " + api + " }\n";
  }
  c += "  }\n";
  return c;
}

// The answer in the case file's terms (key fields null when empty).
json answer_of(const HttpResponse &r, std::string &why) {
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_object()) {
    why = "the body is not JSON";
    return {};
  }
  auto text = [&](const char *f) {
    return j.contains(f) && j[f].is_string() && !j[f].get<std::string>().empty() ? json(j[f]) : json();
  };
  json a = {{"status", r.status},       {"code", text("code")}, {"key_id", text("key_id")},
            {"workspace", text("workspace")}, {"role", text("role")}, {"type", text("type")},
            {"env", text("env")},         {"expires_at", json()}};
  const json exp = text("expires_at");
  if (j.value("api", false)) {  // 200: what the API received, expires_at in unix seconds
    if (exp.is_string()) a["expires_at"] = std::stoll(exp.get<std::string>());
    if (j.value("status", "") != "200") why = "the API got status " + j.value("status", "");
  } else {  // a refusal: the JSON body, expires_at as RFC 3339
    if (j.value("status", 0) != r.status) why = "the status line and the body disagree";
    if (r.header("X-Edgekey-Code").value_or("") != j.value("code", "")) why = "X-Edgekey-Code and the body disagree";
    if (exp.is_string()) {
      struct tm tm{};
      const std::string t = exp.get<std::string>();
      const char *end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
      if (!end || *end) why = "expires_at is not RFC 3339 UTC";
      a["expires_at"] = timegm(&tm);
    }
  }
  return a;
}

TEST(NginxConformance, EveryCaseOfThePhaseThroughTheModuleAndTheLuaBinding) {
  const std::string cases_path = env_var("EDGEKEY_CONFORMANCE_CASES");
  ASSERT_FALSE(cases_path.empty()) << "run me through conformance_env (tests/conformance/README.md)";
  const json doc = read_json(cases_path);
  const json tokens = read_json(env_var("EDGEKEY_CONFORMANCE_TOKENS"));
  const std::string table = env_var("EDGEKEY_CONFORMANCE_TABLE");
  const std::string phase = env_var("EDGEKEY_CONFORMANCE_PHASE");

  NginxProcess nginx;
  nginx.env = {"LD_LIBRARY_PATH=" EDGEKEY_LIB_DIR};
  nginx.write_config(http_conf(table, nginx.port, nginx.api_port),
                     "load_module " EDGEKEY_NGINX_MODULE_PATH ";\n"
                     "load_module " EDGEKEY_NGINX_MODULES_DIR "/ndk_http_module.so;\n"
                     "load_module " EDGEKEY_NGINX_MODULES_DIR "/ngx_http_lua_module.so;\n");
  ASSERT_NO_FATAL_FAILURE(nginx.start());

  int ran = 0;
  for (const auto &c : doc.at("cases")) {
    if (c.value("phase", "live") != phase) continue;
    ++ran;
    const std::string name = c.at("name").get<std::string>();
    std::vector<std::string> headers;
    auto add = [&](const char *header, const char *field, bool tokens_in_it = false) {
      if (!c.contains(field) || c.at(field).is_null()) return;
      const std::string v = c.at(field).get<std::string>();
      headers.push_back(std::string(header) + ": " + (tokens_in_it ? edgekey::conformance::expand(v, tokens) : v));
    };
    add("Authorization", "authorization", true);
    add("X-Test-Permission", "permission");
    add("X-Test-Client-Ip", "client_ip");
    add("Origin", "origin");
    const std::string env = c.contains("env") && c["env"].is_string() ? c["env"].get<std::string>() : "any";
    for (const char *path : {"m", "l"}) {
      const std::string way = path[0] == 'm' ? "module" : "lua";
      const HttpResponse r = http_request(nginx.port, "GET", "/" + std::string(path) + "/" + env + "/x", headers, true);
      std::string why;
      const json got = answer_of(r, why);
      if (!why.empty()) {
        ADD_FAILURE() << name << " [" << way << "]: " << why << " (status " << r.status << ")";
        continue;
      }
      for (const auto &[field, want] : c.at("expect").items())
        EXPECT_EQ(got.value(field, json()), want) << name << " [" << way << "]: " << field;
    }
  }
  EXPECT_GT(ran, 0) << "no case in phase " << phase;
  printf("nginx module and Lua binding, phase %s: %d cases each\n", phase.c_str(), ran);
  if (HasFailure()) printf("nginx's log:\n%s\n", nginx.error_log().c_str());
}

}  // namespace
