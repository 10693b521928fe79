// nats_config.cpp -- the `upstream.nats` block (see nats_config.hpp, NATS.md).
#include "daemon/config/nats_config.hpp"

#include "shm/writer/cidr.hpp"

#include <algorithm>
#include <charconv>

namespace edgekey::daemon {

namespace {

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 1123 host name (which also covers dotted IPv4 literals).
bool valid_hostname(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = h.find('.', start);
    const std::string_view label = h.substr(start, dot == std::string_view::npos ? h.npos : dot - start);
    if (label.empty() || label.size() > 63 || !alnum(label.front()) || !alnum(label.back()))
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; }))
      return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_port(std::string_view p) {
  unsigned v = 0;
  const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  return !p.empty() && ec == std::errc() && end == p.data() + p.size() && v >= 1 && v <= 65535;
}

// JetStream domain, bucket and stream names: [A-Za-z0-9_-]{1,max}.
bool valid_js_name(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max &&
         std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '_' || c == '-'; });
}

}  // namespace

bool valid_nats_url(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 7) == "nats://") rest = url.substr(7);
  else if (url.substr(0, 6) == "tls://") rest = url.substr(6);
  else return false;

  std::string_view host, port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return false;
    host = rest.substr(1, close - 1);
    const std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (!valid_port(port)) return false;
    }
    shm::IpAddr ip;
    return shm::parse_ip(host, ip) && ip.family == 6 && host.find(':') != host.npos;
  }
  const size_t colon = rest.find(':');
  host = rest.substr(0, colon);
  if (colon != std::string_view::npos && !valid_port(rest.substr(colon + 1))) return false;
  return valid_hostname(host);
}

namespace detail {

NatsConfig read_nats(const Reader &r, const YAML::Node &n, const std::string &path) {
  const MapView m = r.map(n, path,
                          {"servers", "origin_domain", "domain", "bucket", "stream", "credentials",
                           "user", "password", "password_file", "tls", "reconnect_wait",
                           "max_reconnect", "heartbeat", "request_timeout", "usage_bucket", "usage_interval"});
  using std::chrono::milliseconds;
  const milliseconds hour{3'600'000};
  NatsConfig c;

  const auto *servers = m.find("servers");
  if (!servers) r.fail(m.line(), m.child("servers"), "required: a list of nats:// or tls:// URLs");
  const auto urls = r.scalar_list(servers->value, m.child("servers"), "URL");
  if (urls.empty()) r.fail(servers->value, m.child("servers"), "expected at least one URL, got an empty list");
  for (size_t i = 0; i < urls.size(); ++i) {
    if (!valid_nats_url(urls[i].first))
      r.expected(urls[i].second, index(m.child("servers"), i),
                 "a nats:// or tls:// URL such as nats://127.0.0.1:4222");
    c.servers.push_back(urls[i].first);
  }

  auto js_name = [&](std::string_view key, size_t max, std::string &out) {
    if (const auto *e = m.find(key)) {
      out = r.scalar(e->value, m.child(key), "a name of [A-Za-z0-9_-]");
      if (!valid_js_name(out, max))
        r.expected(e->value, m.child(key),
                   "a name of 1.." + std::to_string(max) + " characters [A-Za-z0-9_-]");
    }
  };
  js_name("origin_domain", 64, c.origin_domain);
  js_name("domain", 64, c.domain);
  js_name("bucket", 64, c.bucket);
  js_name("usage_bucket", 64, c.usage_bucket);
  c.stream = "KV_" + c.bucket;
  js_name("stream", 255, c.stream);

  const auto *creds = m.find("credentials");
  const auto *user = m.find("user");
  const auto *password = m.find("password");
  const auto *password_file = m.find("password_file");
  if (creds) {
    c.credentials = r.file_path(creds->value, m.child("credentials"));
    for (const auto *e : {user, password, password_file})
      if (e)
        r.fail(e->key_line, m.child(e->key),
               "not allowed with credentials: use either a credentials file or user and password");
  }
  if (user) c.user = r.nonempty(user->value, m.child("user"), "a user name");
  if (password) c.password = r.nonempty(password->value, m.child("password"), "a password");
  if (password_file) c.password_file = r.file_path(password_file->value, m.child("password_file"));
  if (password && password_file)
    r.fail(password_file->key_line, m.child("password_file"), "not allowed with password: give one of them");
  if (!user) {
    for (const auto *e : {password, password_file})
      if (e) r.fail(e->key_line, m.child(e->key), "needs " + m.child("user"));
  } else if (!password && !password_file) {
    r.fail(user->key_line, m.child("user"), "needs password or password_file");
  }

  if (const auto *tls = m.find("tls")) {
    const std::string tpath = m.child("tls");
    const MapView t = r.map(tls->value, tpath, {"ca", "cert", "key"});
    if (const auto *e = t.find("ca")) c.tls.ca = r.file_path(e->value, t.child("ca"));
    if (const auto *e = t.find("cert")) c.tls.cert = r.file_path(e->value, t.child("cert"));
    if (const auto *e = t.find("key")) c.tls.key = r.file_path(e->value, t.child("key"));
    if (c.tls.cert.empty() != c.tls.key.empty())
      r.fail(t.line(), c.tls.cert.empty() ? t.child("key") : t.child("cert"),
             "cert and key must be given together");
  }

  if (const auto *e = m.find("reconnect_wait"))
    c.reconnect_wait = r.duration(e->value, m.child("reconnect_wait"), milliseconds(1), hour);
  if (const auto *e = m.find("max_reconnect"))
    c.max_reconnect = int(r.integer(e->value, m.child("max_reconnect"), -1, 1'000'000'000));
  if (const auto *e = m.find("heartbeat"))
    c.heartbeat = r.duration(e->value, m.child("heartbeat"), milliseconds(100), hour);
  if (const auto *e = m.find("request_timeout"))
    c.request_timeout = r.duration(e->value, m.child("request_timeout"), milliseconds(1), hour);
  if (const auto *e = m.find("usage_interval"))  // 0s: keys' last use is not published
    c.usage_interval = r.duration(e->value, m.child("usage_interval"), milliseconds(0), hour);
  return c;
}

}  // namespace detail

}  // namespace edgekey::daemon
