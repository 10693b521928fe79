#include "daemon/ctl/new_key.hpp"

#include "daemon/config/duration.hpp"
#include "daemon/ctl/errors.hpp"
#include "shm/writer/pepper.hpp"
#include "shm/writer/token.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <stdexcept>

namespace edgekey::ctl {
namespace {

constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kIdChars = 10;

shm::TokenHasher make_hasher(const daemon::Config &cfg) {
  if (cfg.hash != shm::HashScheme::HmacSha256) return shm::TokenHasher();
  std::string pepper;
  if (!shm::read_pepper_file(cfg.pepper_file, pepper))
    throw CtlError(kExitUsage, shm::pepper_file_problem(cfg.pepper_file) + " (pepper_file in " +
                                   cfg.source + ")");
  shm::TokenHasher h(pepper);
  OPENSSL_cleanse(pepper.data(), pepper.size());
  return h;
}

// The edgekeyctl flag behind a record field, for messages.
std::string flag_of(std::string_view field) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> kFlags{{
      {"workspace", "--workspace"},
      {"name", "--name"},
      {"role", "--role"},
      {"scopes", "--scope"},
      {"regions", "--region"},
      {"allowed_origins", "--allow-origin"},
      {"allowed_cidrs", "--allow-cidr"},
      {"expires_at", "--expires"},
  }};
  for (const auto &[f, flag] : kFlags)
    if (f == field) return std::string(flag);
  return "field \"" + std::string(field) + "\"";
}

}  // namespace

std::string join(const std::vector<std::string> &items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out.append(sep);
    out.append(items[i]);
  }
  return out;
}

std::string new_key_id() {
  std::string id = "key_";
  unsigned char buf[32];
  size_t have = 0, used = sizeof buf;
  while (have < kIdChars) {
    if (used == sizeof buf) {
      if (RAND_bytes(buf, sizeof buf) != 1) throw std::runtime_error("OpenSSL RAND_bytes failed: cannot draw a key id");
      used = 0;
    }
    const unsigned char b = buf[used++];
    if (b >= 248) continue;  // 248 = 4 * 62: keeps the draw uniform
    id.push_back(kBase62[b % 62]);
    ++have;
  }
  return id;
}

std::string unique_key_id(const std::vector<sync::KeyRecord> &existing) {
  for (;;) {
    std::string id = new_key_id();
    if (std::none_of(existing.begin(), existing.end(), [&](const sync::KeyRecord &r) { return r.id == id; }))
      return id;
  }
}

TokenMinter::TokenMinter(const daemon::Config &cfg)
    : prefix_(cfg.key_prefix),
      scheme_(cfg.policy.hash_scheme().value_or(sync::HashScheme::Sha256)),
      hasher_(make_hasher(cfg)) {}

std::string TokenMinter::hash_text(std::string_view token) const {
  std::array<uint8_t, 32> h;
  hasher_.hash(token, h.data());
  return sync::format_record_hash(h, scheme_);
}

MintedToken TokenMinter::mint(sync::KeyType type, sync::KeyEnv env) const {
  MintedToken m;
  m.token = shm::generate_token(prefix_, type == sync::KeyType::Publishable ? "pk" : "sk",
                                sync::key_env_name(env));
  m.hash = hash_text(m.token);
  return m;
}

int64_t parse_seconds(std::string_view text, std::string_view flag, int64_t min_seconds) {
  const auto d = daemon::parse_duration(text);
  if (!d)
    throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) +
                                   ": expected a duration such as 90s, 30m, 24h or 7d");
  const int64_t s = (d->count() + 999) / 1000;
  if (s < min_seconds)
    throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) + ": must be at least " +
                                   std::to_string(min_seconds) + "s");
  if (s > sync::kMaxUnixTime)
    throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) + ": too long");
  return s;
}

int64_t parse_expiry(std::string_view text, int64_t now, std::string_view flag) {
  int64_t at = 0;
  if (daemon::parse_duration(text)) {
    const int64_t s = parse_seconds(text, flag, 1);
    if (s > sync::kMaxUnixTime - now)
      throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) + ": ends after year 9999");
    return now + s;
  }
  const bool date_only = text.size() == 10 && text[4] == '-' && text[7] == '-';
  if (!sync::parse_time(date_only ? std::string(text) + "T00:00:00Z" : std::string(text), at))
    throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) +
                                   ": expected a duration from now (90d, 24h, 30m), an RFC 3339 time "
                                   "(2027-01-31T00:00:00Z) or a UTC date (2027-01-31)");
  if (at <= now)
    throw CtlError(kExitUsage, std::string(flag) + " " + sync::quote_for_error(text) + " is not in the future (now is " +
                                   sync::format_time(now) + ")");
  return at;
}

void check_new_record(const sync::KeyRecord &r, const daemon::Config &cfg) {
  const sync::Policy &policy = cfg.policy;
  if (!policy.role_index(r.role))
    throw CtlError(kExitUsage, "role " + sync::quote_for_error(r.role) + " is not in " + cfg.source +
                                   " (roles: " + join(policy.role_names()) + ")");
  for (const auto &s : r.scopes) {
    const auto bit = policy.permission_bit(s);
    if (!bit)
      throw CtlError(kExitUsage, "scope " + sync::quote_for_error(s) + " is not a permission in " + cfg.source +
                                     " (permissions: " + join(policy.permissions()) + ")");
    if (r.type == sync::KeyType::Publishable && !(policy.publishable_mask() >> *bit & 1))
      throw CtlError(kExitUsage, "scope " + sync::quote_for_error(s) +
                                     " can never take effect on a publishable key: publishable keys hold at most [" +
                                     join(policy.publishable()) + "] (publishable in " + cfg.source + ")");
  }
  if (r.type == sync::KeyType::Publishable && r.allowed_origins.empty())
    throw CtlError(kExitUsage,
                   "a publishable key needs at least one --allow-origin (e.g. --allow-origin "
                   "https://app.example.com): it is used from browsers, and requests from any other origin "
                   "are refused");
  if (auto e = sync::validate_record(r)) throw CtlError(kExitUsage, flag_of(e->field) + ": " + e->what);
}

}  // namespace edgekey::ctl
