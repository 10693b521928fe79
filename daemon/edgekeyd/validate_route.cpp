#include "daemon/edgekeyd/validate_route.hpp"

#include <algorithm>
#include <ctime>
#include <cstring>
#include <new>

namespace edgekey::daemon {
namespace {

// A header value as a NUL-terminated string in `buf`; null when absent or
// too long to be meaningful for its field.
const char *header_cstr(const http::Request &req, std::string_view name, char *buf, size_t cap) {
  auto v = req.header(name);
  if (!v || v->size() >= cap) return nullptr;
  std::memcpy(buf, v->data(), v->size());
  buf[v->size()] = '\0';
  return buf;
}

// X-Real-IP, else the first (client-most) entry of X-Forwarded-For, as set
// by the proxy that calls us. Unparseable values reach the validator, which
// treats them as no address (ip_not_allowed for keys with CIDRs).
const char *client_ip(const http::Request &req, char *buf, size_t cap) {
  if (const char *ip = header_cstr(req, "x-real-ip", buf, cap)) return ip;
  auto xff = req.header("x-forwarded-for");
  if (!xff) return nullptr;
  std::string_view v = *xff;
  v = v.substr(0, v.find(','));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  if (v.empty() || v.size() >= cap) return nullptr;
  std::memcpy(buf, v.data(), v.size());
  buf[v.size()] = '\0';
  return buf;
}

}  // namespace

Result ValidateRoute::validate(const http::Request &req) {
  Result r;
  if (!validator_) {
    validator_ = Validator::open(table_.c_str());
    // The socket's answers are counted here (path "socket"), not as the library's.
    if (validator_) ek_set_counting(validator_.handle(), 0);
  }
  if (!validator_) {
    r.status = 503;
    r.code = EK_CODE_KEYSET_UNAVAILABLE;
    return r;
  }
  if (req.header_count("authorization") > 1) {  // ambiguous: which key?
    r.status = 401;
    r.code = EK_CODE_MALFORMED_TOKEN;
    return r;
  }
  char perm[64], ip[64], origin[512], env[16];
  Request q;
  q.permission = header_cstr(req, "x-edgekey-permission", perm, sizeof perm);
  q.client_ip = client_ip(req, ip, sizeof ip);
  q.origin = header_cstr(req, "origin", origin, sizeof origin);
  q.env = header_cstr(req, "x-edgekey-env", env, sizeof env);
  return validator_.validate(req.header("authorization").value_or(std::string_view{}), q);
}

void ValidateRoute::handle(const http::Request &req, http::Response &res) {
  const Result r = validate(req);
  ++by_code_[size_t(r.code) < by_code_.size() ? r.code : EK_CODE_KEYSET_UNAVAILABLE];
  const bool has_key = r.key_id[0] != '\0';
  // The answer never depends on its bookkeeping: a key's use that finds no
  // memory to be noted in (its first use) goes unnoted, not answered 500.
  // The count by code above needs none.
  try {
    if (r.code == EK_CODE_REVOKED_KEY) revoked_.record(r.key_id, r.workspace, int64_t(time(nullptr)));
    if (on_answer) on_answer(r);
  } catch (const std::bad_alloc &) {
  }

  res.status = r.status;
  res.add_header("Content-Type", "application/json");
  res.add_header("X-Edgekey-Code", r.code_name());
  if (const char *challenge = ek_result_challenge(&r)) res.add_header("WWW-Authenticate", challenge);
  if (r.status == 503) res.add_header("Retry-After", "1");
  if (has_key) {
    res.add_header("X-Edgekey-Key-Id", r.key_id);
    res.add_header("X-Edgekey-Workspace", r.workspace);
    res.add_header("X-Edgekey-Role", r.role);
    res.add_header("X-Edgekey-Type", r.type_name());
    res.add_header("X-Edgekey-Env", r.env_name());
  }
  // The body is libedgekey's rendering, the one the nginx module sends too.
  char body[EK_RESULT_JSON_MAX];
  res.body.assign(body, std::min(ek_result_json(&r, body, sizeof body), sizeof body - 1));
}

}  // namespace edgekey::daemon
