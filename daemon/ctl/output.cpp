#include "daemon/ctl/output.hpp"

#include "sync/record/record_fields.hpp"
#include "sync/record/record_json.hpp"

#include <algorithm>
#include <array>

namespace edgekey::ctl {
namespace {

std::string time_or(const std::optional<int64_t> &t, const char *none) {
  return t ? sync::format_time(*t) : std::string(none);
}

std::string list_or(const std::vector<std::string> &v, const char *none) {
  if (v.empty()) return none;
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s.append(i ? ", " : "").append(v[i]);
  return s;
}

std::string scalar_text(const nlohmann::ordered_json &j) {
  if (j.is_null()) return "-";
  if (j.is_string()) return printable(j.get_ref<const std::string &>());
  return printable(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void tree(std::ostream &out, const nlohmann::ordered_json &j, int indent) {
  const std::string pad(size_t(indent), ' ');
  for (const auto &[key, v] : j.items()) {
    out << pad << printable(key) << ':';
    if (v.is_object() && !v.empty()) {
      out << '\n';
      tree(out, v, indent + 2);
    } else if (v.is_array() && std::any_of(v.begin(), v.end(), [](const auto &e) { return e.is_structured(); })) {
      out << '\n';
      for (const auto &e : v) {
        out << pad << "  -";
        if (e.is_object()) {
          out << '\n';
          tree(out, e, indent + 4);
        } else {
          out << ' ' << scalar_text(e) << '\n';
        }
      }
    } else if (v.is_array()) {
      std::string s;
      for (const auto &e : v) s.append(s.empty() ? "" : ", ").append(scalar_text(e));
      out << ' ' << (s.empty() ? "-" : s) << '\n';
    } else {
      out << ' ' << scalar_text(v) << '\n';
    }
  }
}

}  // namespace

nlohmann::ordered_json record_json(const sync::KeyRecord &r) {
  return sync::record_json_value(r);
}

void print_json(std::ostream &out, const nlohmann::ordered_json &j) {
  out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

const char *key_state(const sync::KeyRecord &r, int64_t now) {
  if (r.status == sync::KeyStatus::Revoked) return "revoked";
  if (r.expires_at && *r.expires_at <= now) return "expired";
  return "active";
}

std::string short_hash(std::string_view hash) {
  const size_t colon = hash.find(':');
  if (colon == std::string_view::npos || hash.size() <= colon + 9) return printable(hash);
  return printable(hash.substr(0, colon + 9)) + "\u2026";
}

std::string printable(std::string_view text) {
  std::string s(text);
  for (char &c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

namespace {

// A field as `keys show` prints it: the stored text, "-" when an optional
// field is absent; the per-field exceptions are in print_record.
std::string shown(const sync::FieldSpec &s, const std::string &v) { return s.required || !v.empty() ? v : "-"; }
std::string shown(const sync::FieldSpec &, const std::vector<std::string> &v) { return list_or(v, "-"); }
std::string shown(const sync::FieldSpec &s, const std::optional<int64_t> &v) {
  if (!v) return "-";
  return s.kind == sync::FieldKind::Time ? sync::format_time(*v) : std::to_string(*v);
}
template <class E>
std::string shown(const sync::FieldSpec &, E v) {
  return sync::choice_name(v);
}

}  // namespace

void print_record(std::ostream &out, const sync::KeyRecord &r, int64_t now) {
  const bool pk = r.type == sync::KeyType::Publishable;
  // Every field of the table, in its order, except: origin_written_at (the
  // origin's latency stamp) is not shown, and the hash, shortened, follows
  // the allow-lists.
  auto row = [&](std::string_view label, const std::string &value) {
    const std::string l = std::string(label) + ':';
    out << l << std::string(17 - l.size(), ' ') << printable(value) << '\n';
  };
  sync::for_each_field(r, [&](const sync::FieldSpec &s, const auto &m) {
    const std::string_view n = s.name;
    if (n == "origin_written_at" || n == "hash") return;
    std::string value = shown(s, m);
    if (n == "regions" && r.regions.empty()) value = "(every region)";
    if (n == "allowed_origins" && r.allowed_origins.empty()) value = pk ? "(none)" : "(any)";
    if (n == "allowed_cidrs" && r.allowed_cidrs.empty()) value = "(any)";
    if (n == "expires_at" && !r.expires_at) value = "never";
    if (n == "status") {
      value = key_state(r, now);
      if (value == "expired") value += " (expires_at has passed)";
    }
    row(n, value);
    if (n == "allowed_cidrs") row("hash", short_hash(r.hash));
  });
}

void print_key_table(std::ostream &out, const std::vector<sync::KeyRecord> &keys, int64_t now,
                     const std::map<std::string, KeyUseInfo> *use) {
  if (keys.empty()) {
    out << "no keys\n";
    return;
  }
  using Row = std::array<std::string, 9>;
  std::vector<Row> rows;
  rows.push_back({"ID", "WORKSPACE", "TYPE", "ENV", "ROLE", "STATUS", "EXPIRES", "LAST USED", "NAME"});
  auto last_used = [&](const std::string &id) -> std::string {
    if (!use) return "?";
    auto it = use->find(id);
    if (it == use->end() || !it->second.last_used) return "never";
    const KeyUseInfo &u = it->second;
    return sync::format_time(u.last_used) + (u.region.empty() ? "" : " (" + printable(u.region) + ")");
  };
  for (const auto &r : keys)
    rows.push_back({printable(r.id), printable(r.workspace), sync::key_type_name(r.type), sync::key_env_name(r.env),
                    printable(r.role), key_state(r, now), time_or(r.expires_at, "never"), last_used(r.id),
                    printable(r.name)});
  std::array<size_t, 9> width{};
  for (const auto &row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  for (const auto &row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  }
}

void print_json_tree(std::ostream &out, const nlohmann::ordered_json &j) {
  if (j.is_object())
    tree(out, j, 0);
  else
    out << scalar_text(j) << '\n';
}

}  // namespace edgekey::ctl
