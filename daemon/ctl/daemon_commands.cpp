#include "daemon/ctl/daemon_commands.hpp"

#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/output.hpp"
#include "daemon/ctl/socket_client.hpp"

namespace edgekey::ctl {
namespace {

// The body's first line, shortened, for an error message.
std::string excerpt(const std::string &body) {
  std::string s = body.substr(0, body.find('\n'));
  if (s.size() > 200) s = s.substr(0, 200) + "\u2026";
  return printable(s);
}

CtlError unexpected(const Context &ctx, const char *what, const HttpResponse &res) {
  return CtlError(kExitUnavailable, "edgekeyd at " + ctx.cfg.socket.path + " answered " + std::to_string(res.status) +
                                        " to " + what + (res.body.empty() ? "" : ": " + excerpt(res.body)));
}

std::string json_string(const nlohmann::ordered_json &j, const char *key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

int validate_key(const Context &ctx, const ValidateArgs &a) {
  HeaderList h;
  const bool has_scheme = a.token.size() > 7 && (a.token.compare(0, 7, "Bearer ") == 0 || a.token.compare(0, 7, "bearer ") == 0);
  h.emplace_back("Authorization", has_scheme ? a.token : "Bearer " + a.token);
  if (!a.permission.empty()) h.emplace_back("X-Edgekey-Permission", a.permission);
  if (!a.ip.empty()) h.emplace_back("X-Real-IP", a.ip);
  if (!a.origin.empty()) h.emplace_back("Origin", a.origin);
  if (!a.env.empty()) h.emplace_back("X-Edgekey-Env", a.env);
  const HttpResponse res = unix_http_get(ctx.cfg.socket.path, "/v1/validate", h, a.timeout);
  if (res.status != 200 && res.status != 401 && res.status != 403 && res.status != 503)
    throw unexpected(ctx, "GET /v1/validate", res);

  const auto body = nlohmann::ordered_json::parse(res.body, nullptr, false);
  if (!body.is_object()) throw CtlError(kExitUnavailable, "edgekeyd at " + ctx.cfg.socket.path +
                                                              " answered " + std::to_string(res.status) +
                                                              " without a JSON body: " + excerpt(res.body));
  if (ctx.json) {
    print_json(ctx.out, body);
  } else {
    std::string code = json_string(body, "code");
    if (code.empty()) code = res.header("X-Edgekey-Code").value_or("-");
    ctx.out << res.status << ' ' << printable(code);
    const std::string id = json_string(body, "key_id");
    if (!id.empty())
      ctx.out << ' ' << printable(id) << " (" << printable(json_string(body, "workspace")) << ", "
              << printable(json_string(body, "role")) << ')';
    ctx.out << '\n';
  }
  if (res.status == 200) return kExitOk;
  if (res.status == 503) {
    if (!ctx.json)
      ctx.err << "edgekeyctl: edgekeyd cannot answer for keys right now (503): its key table is stale or not "
                 "loaded; see `edgekeyctl status`\n";
    return kExitUnavailable;
  }
  return kExitRefused;
}

int daemon_status(const Context &ctx, std::chrono::milliseconds timeout) {
  const HttpResponse res = unix_http_get(ctx.cfg.socket.path, "/v1/status", {}, timeout);
  if (res.status != 200 && res.status != 503) throw unexpected(ctx, "GET /v1/status", res);
  const auto body = nlohmann::ordered_json::parse(res.body, nullptr, false);
  if (body.is_discarded())
    throw CtlError(kExitUnavailable, "edgekeyd at " + ctx.cfg.socket.path + " answered GET /v1/status with "
                                     "something that is not JSON: " + excerpt(res.body));
  if (ctx.json)
    print_json(ctx.out, body);
  else
    print_json_tree(ctx.out, body);
  return res.status == 200 ? kExitOk : kExitUnavailable;
}

}  // namespace edgekey::ctl
