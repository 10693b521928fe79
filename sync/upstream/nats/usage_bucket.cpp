// usage_bucket.cpp -- see usage_bucket.hpp.
#include "sync/upstream/nats/usage_bucket.hpp"

#include "sync/record/key_record.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <climits>

namespace edgekey::sync {

namespace {

bool plain_part(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

}  // namespace

std::string usage_entry_key(const UsageEntry &e) { return e.id + "." + e.region + "." + e.host; }

bool parse_usage_entry_key(std::string_view key, std::string &id, std::string &region, std::string &host) {
  const size_t h = key.rfind('.');
  if (h == std::string_view::npos || h == 0) return false;
  const size_t r = key.rfind('.', h - 1);
  if (r == std::string_view::npos || r == 0) return false;
  id = key.substr(0, r);
  region = key.substr(r + 1, h - r - 1);
  host = key.substr(h + 1);
  return !id.empty() && plain_part(region) && plain_part(host);
}

std::string encode_usage_value(const UsageEntry &e) {
  nlohmann::ordered_json j = {{"id", e.id},
                              {"region", e.region},
                              {"host", e.host},
                              {"last_used_at", format_time(e.last_used)},
                              {"uses_last_day", e.uses_last_day},
                              {"reported_at", format_time(e.reported_at)}};
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::optional<UsageEntry> decode_usage_value(std::string_view key, std::string_view value, std::string *error) {
  auto fail = [&](const std::string &why) -> std::optional<UsageEntry> {
    if (error) *error = why;
    return std::nullopt;
  };
  UsageEntry e;
  if (!parse_usage_entry_key(key, e.id, e.region, e.host))
    return fail("the entry's name is not <key id>.<region>.<host>");
  const auto j = nlohmann::json::parse(value, nullptr, false);
  if (!j.is_object()) return fail("the value is not a JSON object");
  auto text = [&](const char *field) -> std::optional<std::string> {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  };
  if (text("id") != e.id || text("region") != e.region || text("host") != e.host)
    return fail("its id, region or host differs from the entry's name");
  const auto used = text("last_used_at"), reported = text("reported_at");
  if (!used || !parse_time(*used, e.last_used)) return fail("field \"last_used_at\": expected a time");
  if (!reported || !parse_time(*reported, e.reported_at)) return fail("field \"reported_at\": expected a time");
  auto n = j.find("uses_last_day");
  if (n == j.end() || !n->is_number_unsigned()) return fail("field \"uses_last_day\": expected a count");
  e.uses_last_day = n->get<uint64_t>();
  return e;
}

std::string usage_host_name() {
  char buf[HOST_NAME_MAX + 1] = {};
  std::string h;
  if (gethostname(buf, sizeof buf - 1) == 0) h = buf;
  for (char &c : h)
    if (!plain_part(std::string_view(&c, 1))) c = '-';
  if (h.size() > 64) h.resize(64);
  return h.empty() ? "host" : h;
}

bool usage_key_safe(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '=' || c == '/' || c == '.';
  });
}

std::string usage_put_subject(const NatsOptions &o, std::string_view key) {
  std::string s = o.origin_domain.empty() ? std::string() : "$JS." + o.origin_domain + ".API.";
  return s.append("$KV.").append(o.usage_bucket).append(".").append(key);
}

std::string init_usage_bucket(NatsClient &c, const NatsOptions &o) {
  return init_origin_bucket(c, o, o.usage_bucket, "keys' last use", kUsageEntryTtlS);
}

}  // namespace edgekey::sync
