// conformance_run -- the conformance runner of the C API and of edgekeyd's
// socket (format and contract: README.md here). Started by conformance_env.
//
//   conformance_run c        every case through ek_validate (libedgekey, public API only)
//   conformance_run socket   every case as GET /v1/validate on edgekeyd's Unix socket
//
// Prints one line per field that differs (case name, field, expected, got;
// never a token) and exits 1 on any difference or when the phase has no case.
#include "case_tokens.hpp"

#include <edgekey/edgekey.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

using json = nlohmann::json;

namespace {

[[noreturn]] void die(const std::string &what) {
  fprintf(stderr, "conformance_run: %s\n", what.c_str());
  exit(2);
}

std::string env_or_die(const char *name) {
  const char *v = getenv(name);
  if (!v || !*v) die(std::string(name) + " is not set: run me through conformance_env");
  return v;
}

json read_json(const std::string &path) {
  std::ifstream in(path);
  if (!in) die("cannot read " + path);
  return json::parse(in);
}

// A case's request, expanded.
struct Req {
  std::optional<std::string> authorization, permission, client_ip, origin, env;
};

std::optional<std::string> opt(const json &c, const char *field) {
  if (!c.contains(field) || c.at(field).is_null()) return std::nullopt;
  return c.at(field).get<std::string>();
}

const char *cstr(const std::optional<std::string> &s) { return s ? s->c_str() : nullptr; }

// An answer in the case file's terms: key fields null when empty.
json answer(int status, const std::string &code, const std::string &key_id, const std::string &workspace,
            const std::string &role, const std::string &type, const std::string &env, long long expires_at) {
  auto s = [](const std::string &v) { return v.empty() ? json() : json(v); };
  return {{"status", status}, {"code", code},    {"key_id", s(key_id)}, {"workspace", s(workspace)},
          {"role", s(role)},  {"type", s(type)}, {"env", s(env)},       {"expires_at", expires_at ? json(expires_at) : json()}};
}

json via_c(ek_validator *v, const Req &q) {
  ek_request r{};
  r.authorization = cstr(q.authorization);
  r.permission = cstr(q.permission);
  r.client_ip = cstr(q.client_ip);
  r.origin = cstr(q.origin);
  r.env = cstr(q.env);
  ek_result out;
  if (const int rc = ek_validate(v, &r, &out); rc != 0) return {{"error", ek_strerror(rc)}};
  return answer(out.status, ek_code_name(out.code), out.key_id, out.workspace, out.role, ek_type_name(out.type),
                ek_env_name(out.env), out.expires_at);
}

json via_socket(const std::string &path, const Req &q) {
  std::string req = "GET /v1/validate HTTP/1.1\r\nHost: edgekey\r\nConnection: close\r\n";
  auto header = [&](const char *name, const std::optional<std::string> &v) {
    if (v) req += std::string(name) + ": " + *v + "\r\n";
  };
  header("Authorization", q.authorization);
  header("X-Edgekey-Permission", q.permission);
  header("X-Real-IP", q.client_ip);
  header("Origin", q.origin);
  header("X-Edgekey-Env", q.env);
  req += "\r\n";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    ::close(fd);
    return {{"error", "cannot connect to " + path + ": " + strerror(errno)}};
  }
  std::string resp;
  for (size_t off = 0; off < req.size();) {
    const ssize_t n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += size_t(n);
  }
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) resp.append(buf, size_t(n));
  ::close(fd);
  const size_t body_at = resp.find("\r\n\r\n");
  if (resp.compare(0, 9, "HTTP/1.1 ") != 0 || body_at == std::string::npos)
    return {{"error", "not an HTTP answer: " + resp.substr(0, 80)}};
  const int status = std::atoi(resp.c_str() + 9);
  json body = json::parse(resp.substr(body_at + 4), nullptr, false);
  if (!body.is_object()) return {{"error", "body is not JSON"}};
  if (body.value("status", 0) != status) return {{"error", "status line and body disagree"}};
  auto s = [&](const char *f) { return body.contains(f) && body[f].is_string() ? body[f].get<std::string>() : ""; };
  long long exp = 0;  // the body's expires_at is RFC 3339 UTC text ("2099-01-01T00:00:00Z") or null
  if (body.contains("expires_at") && body["expires_at"].is_string()) {
    struct tm tm{};
    const std::string t = body["expires_at"].get<std::string>();
    const char *end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end) return {{"error", "expires_at is not RFC 3339 UTC: " + t}};
    exp = timegm(&tm);
  } else if (body.contains("expires_at") && !body["expires_at"].is_null()) {
    return {{"error", "expires_at is neither text nor null"}};
  }
  return answer(status, s("code"), s("key_id"), s("workspace"), s("role"), s("type"), s("env"), exp);
}

}  // namespace

int main(int argc, char **argv) {
  const std::string path = argc == 2 ? argv[1] : "";
  if (path != "c" && path != "socket") die("usage: conformance_run c|socket");
  const json doc = read_json(env_or_die("EDGEKEY_CONFORMANCE_CASES"));
  const json tokens = read_json(env_or_die("EDGEKEY_CONFORMANCE_TOKENS"));
  const std::string table = env_or_die("EDGEKEY_CONFORMANCE_TABLE");
  const std::string socket = env_or_die("EDGEKEY_CONFORMANCE_SOCKET");
  const std::string phase = env_or_die("EDGEKEY_CONFORMANCE_PHASE");

  ek_validator *v = nullptr;
  if (path == "c")
    if (const int rc = ek_open(table.c_str(), &v); rc != 0) die(std::string("ek_open: ") + ek_strerror(rc));

  int ran = 0, failed = 0;
  for (const auto &c : doc.at("cases")) {
    if (c.value("phase", "live") != phase) continue;
    ++ran;
    Req q;
    if (auto a = opt(c, "authorization")) {
      try {
        q.authorization = edgekey::conformance::expand(*a, tokens);
      } catch (const std::exception &e) {
        die(e.what());
      }
    }
    q.permission = opt(c, "permission");
    q.client_ip = opt(c, "client_ip");
    q.origin = opt(c, "origin");
    q.env = opt(c, "env");
    const json got = path == "c" ? via_c(v, q) : via_socket(socket, q);
    const std::string name = c.at("name").get<std::string>();
    if (got.contains("error")) {
      printf("FAIL %s [%s]: %s\n", name.c_str(), path.c_str(), got["error"].get<std::string>().c_str());
      ++failed;
      continue;
    }
    bool ok = true;
    for (const auto &[field, want] : c.at("expect").items()) {
      if (got.value(field, json()) == want) continue;
      printf("FAIL %s [%s]: %s expected %s, got %s\n", name.c_str(), path.c_str(), field.c_str(),
             want.dump().c_str(), got.value(field, json()).dump().c_str());
      ok = false;
    }
    failed += !ok;
  }
  if (v) ek_close(v);
  printf("%s path, phase %s: %d of %d cases as expected\n", path.c_str(), phase.c_str(), ran - failed, ran);
  if (ran == 0) printf("FAIL: no case in phase %s\n", phase.c_str());
  return failed || ran == 0 ? 1 : 0;
}
