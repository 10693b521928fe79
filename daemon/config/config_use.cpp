// config_use.cpp -- what other layers derive from a loaded Config: table
// writer options, the --check-config summary.
#include "daemon/config/config.hpp"

#include <algorithm>
#include <cstdio>

namespace edgekey::daemon {

namespace {

std::string octal(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777u);
  return buf;
}

std::string joined(const std::vector<std::string> &items) {
  std::string out;
  for (const auto &s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

shm::TableOptions to_table_options(const Config &c) {
  shm::TableOptions o;
  o.name = c.table.name;
  o.capacity = c.table.capacity;
  o.mode = c.table.mode;
  o.readers_group = c.table.readers_group;
  o.huge_pages = c.table.huge_pages;
  o.directory = c.table.directory;
  o.key_prefix = c.key_prefix;
  o.legacy_tokens = c.legacy_tokens;
  if (c.hash == shm::HashScheme::HmacSha256) o.pepper_path = c.pepper_file;
  c.policy.apply_to(o);
  o.staleness_max_s = uint32_t(c.staleness.max.count());
  o.staleness_policy = c.staleness.policy;
  return o;
}

std::string describe(const Config &c) {
  std::string s;
  auto line = [&](const std::string &text) { s += text + "\n"; };

  line("config " + c.source);
  line("region " + c.region + ", key prefix " + c.key_prefix + ", legacy tokens " +
       (c.legacy_tokens ? "accepted" : "rejected") + ", hash " +
       (c.hash == shm::HashScheme::HmacSha256 ? "hmac-sha256 (pepper " + c.pepper_file + ")" : "sha256"));
  line("table " + c.table.name + ": capacity " + std::to_string(c.table.capacity) + ", group " +
       (c.table.readers_group.empty() ? "(daemon's)" : c.table.readers_group) + ", mode " +
       octal(c.table.mode) + ", huge pages " + shm::huge_pages_name(c.table.huge_pages) +
       (c.table.directory.empty() ? "" : ", in " + c.table.directory + " (readers open " + c.table.address() + ")"));
  line("socket " + c.socket.path + ", mode " + octal(c.socket.mode));
  if (c.upstream.kind == UpstreamKind::File) {
    line("upstream file " + c.upstream.file);
  } else {
    const NatsConfig &n = c.upstream.nats;
    std::string auth = "none";
    if (!n.credentials.empty()) auth = "credentials " + n.credentials;
    else if (!n.user.empty())
      auth = "user " + n.user + (n.password_file.empty() ? " (password inline)" : " (password_file " + n.password_file + ")");
    line("upstream nats " + joined(n.servers) + ": stream " + n.stream + ", bucket " + n.bucket +
         ", domain " + (n.domain.empty() ? "(none)" : n.domain) + ", origin domain " +
         (n.origin_domain.empty() ? "(none)" : n.origin_domain));
    line("  auth " + auth + ", tls " + (n.tls.enabled() ? "on" : "off") + ", reconnect every " +
         format_duration(n.reconnect_wait) + " " +
         (n.max_reconnect < 0 ? std::string("forever") : "up to " + std::to_string(n.max_reconnect) + " times") +
         ", heartbeat " + format_duration(n.heartbeat) + ", request timeout " +
         format_duration(n.request_timeout));
    line(n.usage_interval.count() ? "  keys' last use published to bucket " + n.usage_bucket + " at most every " +
                                        format_duration(n.usage_interval) + " per key"
                                  : std::string("  keys' last use not published (usage_interval 0s)"));
  }
  line("staleness max " + format_duration(c.staleness.max) + ", then " +
       (c.staleness.policy == shm::StalenessPolicy::FailClosed ? "fail_closed" : "serve_stale"));
  line("snapshot " + c.snapshot);
  line("log level " + std::string(sync::severity_name(c.log_level)));
  line("limits " + std::to_string(c.limits.max_connections) + " connections, header " +
       std::to_string(c.limits.max_header_bytes) + " B, body " + std::to_string(c.limits.max_body_bytes) +
       " B, idle " + format_duration(c.limits.idle_timeout) + ", request " +
       format_duration(c.limits.request_timeout));
  line("permissions (" + std::to_string(c.permissions.size()) + "): " + joined(c.permissions));
  line("publishable: " + (c.publishable.empty() ? std::string("(none)") : joined(c.publishable)));
  line("roles (" + std::to_string(c.roles.size()) + "):");
  for (const auto &[name, spec] : c.roles)
    line("  " + name + ": " +
         (spec.all ? std::string("* (all)") : spec.permissions.empty() ? std::string("(none)") : joined(spec.permissions)));
  return s;
}

}  // namespace edgekey::daemon
