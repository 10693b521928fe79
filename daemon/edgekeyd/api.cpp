// api.cpp -- edgekeyd's HTTP routes (DESIGN.md "Daemon"):
//   /v1/validate       the validation answer (validate_route.cpp), for any
//                      method and under /v1/validate/ too (Envoy ext_authz)
//   GET /v1/status     table, upstream and freshness as JSON
//   GET /v1/keys/{id}  a key's metadata (never a token, never its hash) and
//                      its use on this host (last_used_at, uses_last_day)
//   GET /v1/usage      every key's use on this host (edgekeyctl keys list)
//   GET /healthz       the loop answers
//   GET /readyz        200 once the first full load is done and the table
//                      holds every key of the upstream, else 503
//   GET /metrics       Prometheus text
#include "daemon/edgekeyd/daemon.hpp"
#include "daemon/edgekeyd/json_text.hpp"
#include "sync/record/record_json.hpp"

#include <nlohmann/json.hpp>

#include <ctime>

namespace edgekey::daemon {

namespace {

void text(http::Response &res, int status, std::string body) {
  res.status = status;
  res.add_header("Content-Type", "text/plain; charset=utf-8");
  res.body = std::move(body);
}

void json(http::Response &res, int status, const nlohmann::json &j) {
  res.status = status;
  res.add_header("Content-Type", "application/json");
  res.body = j.dump() + "\n";
}

void metric(std::string &out, const char *name, const char *type, const char *help, double value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  char buf[64];
  snprintf(buf, sizeof buf, " %.17g\n", value);
  out.append(name).append(buf);
}

}  // namespace

void Daemon::handle(const http::Request &req, http::Response &res) {
  if (ValidateRoute::serves(req.path)) return validate_.handle(req, res);  // any method (ext_authz)
  if (req.method != "GET" && req.method != "HEAD") {
    res.add_header("Allow", "GET, HEAD");
    return text(res, 405, "only GET is served here\n");
  }
  const std::string_view path = req.path;
  if (path == "/healthz") return text(res, 200, "ok\n");
  if (path == "/readyz") {
    if (!ready_) return text(res, 503, "not ready: no complete load of the keyset yet\n");
    if (applier_->unplaced())
      return text(res, 503, "not ready: " + std::to_string(applier_->unplaced()) +
                                " keys of the upstream are not in the table: " + applier_->room_problem() + "\n");
    return text(res, 200, "ready\n");
  }
  if (path == "/v1/status") return status_json(res);
  if (path == "/metrics") return metrics_text(res);
  if (path == "/v1/usage") return usage_json(res);
  constexpr std::string_view kKeys = "/v1/keys/";
  if (path.substr(0, kKeys.size()) == kKeys && path.size() > kKeys.size())
    return key_json(std::string(path.substr(kKeys.size())), res);
  text(res, 404, "no such endpoint: try /v1/validate, /v1/status, /v1/keys/{id}, /v1/usage, /healthz, /readyz, "
                "/metrics\n");
}

void Daemon::status_json(http::Response &res) const {
  const auto st = writer_->stats();
  const int64_t now = int64_t(time(nullptr));
  const int64_t contact = writer_->last_contact();
  nlohmann::json j = {
      {"region", cfg_.region},
      {"ready", ready_},
      {"table", {{"name", cfg_.table.name},
                 {"address", cfg_.table.address()},
                 {"generation", st.generation},
                 {"capacity", st.capacity},
                 {"live_keys", st.live},
                 {"revoked_keys", st.revoked},
                 {"tombstones", st.tombstones},
                 {"segment_bytes", st.segment_bytes},
                 {"huge_pages", shm::huge_pages_name(cfg_.table.huge_pages)},
                 {"huge_page_bytes", st.huge_page_bytes},
                 {"unplaced_keys", applier_->unplaced()},
                 {"room_problem", applier_->room_problem().empty() ? nlohmann::json()
                                                                   : nlohmann::json(applier_->room_problem())}}},
      {"upstream", {{"kind", cfg_.upstream.kind == UpstreamKind::File ? "file" : "nats"},
                    {"source", upstream_identity()},
                    {"healthy", (file_ && file_->healthy()) || (nats_ && nats_->status().connected)},
                    {"from_snapshot", from_snapshot_},
                    {"revision", applier_->revision()},
                    {"last_contact", contact ? nlohmann::json(sync::format_time(contact)) : nlohmann::json()},
                    {"last_contact_age_seconds", contact ? nlohmann::json(now - contact) : nlohmann::json()},
                    {"records_rejected", applier_->rejected()}}},
      {"nats", nats_status_json()},
      {"snapshot", cfg_.snapshot.empty() ? nlohmann::json() : snapshot_writer_.status_json()},
      {"staleness", {{"max_seconds", cfg_.staleness.max.count()},
                     {"policy", cfg_.staleness.policy == shm::StalenessPolicy::FailClosed ? "fail_closed"
                                                                                          : "serve_stale"}}},
      {"uptime_seconds", now - started_at_},
  };
  json(res, 200, j);
}

nlohmann::json Daemon::nats_status_json() const {
  if (!nats_) return nullptr;
  const auto &n = nats_->status();
  const uint64_t applied = applier_->revision();
  return {{"connected", n.connected},
          {"synced", n.synced},
          {"snapshotting", n.snapshotting},
          {"stream_last_sequence", n.stream_last_seq},
          {"pending_messages", n.stream_last_seq > applied ? n.stream_last_seq - applied : 0},
          {"origin_lag_messages", n.origin_lag},
          {"origin_last_active_ms", n.origin_active_ms},
          {"snapshots_loaded", n.snapshots},
          {"messages_applied", n.messages},
          {"records_rejected", n.rejected},
          {"reconnects", n.reconnects},
          {"last_error", n.last_error},
          {"propagation_ms",
           {{"count", propagation_.count()},
            {"mean", propagation_.count() ? double(propagation_.sum().count()) / 1e6 / double(propagation_.count())
                                          : 0.0}}}};
}

void Daemon::key_json(const std::string &id, http::Response &res) const {
  const sync::KeyRecord *r = applier_->find_id(id);
  if (!r) return json(res, 404, {{"error", "no key with id " + id + " in this region's table"}});
  nlohmann::json j = sync::record_json_value(*r);
  j.erase("hash");
  j.erase("origin_written_at");
  j.update(key_use_json(id));
  json(res, 200, j);
}

// last_used_at (RFC 3339, null = not seen used here) and uses over the last
// 24 hours, through every path on this host.
nlohmann::json Daemon::key_use_json(const std::string &id) const {
  const KeyUse *u = usage_->key(id);
  const int64_t now = int64_t(time(nullptr));
  return {{"last_used_at", u && u->last_used ? nlohmann::json(sync::format_time(u->last_used)) : nlohmann::json()},
          {"uses_last_day", u ? u->last_day(now) : 0},
          {"region", cfg_.region}};
}

void Daemon::usage_json(http::Response &res) const {
  nlohmann::json keys = nlohmann::json::object();
  const int64_t now = int64_t(time(nullptr));
  for (const auto &[id, u] : usage_->keys())
    keys[id] = {{"last_used_at", u.last_used ? nlohmann::json(sync::format_time(u.last_used)) : nlohmann::json()},
                {"uses_last_day", u.last_day(now)}};
  json(res, 200, {{"region", cfg_.region}, {"keys", std::move(keys)}});
}

// Validations through every path: the library's (folded from the readers'
// usage segments) and the socket's, saved across restarts.
void Daemon::usage_metrics(std::string &out) const {
  out.append("# HELP edgekey_validations_total Validation answers on this host, by path (library: readers "
             "linking libedgekey; socket: /v1/validate), status and code.\n"
             "# TYPE edgekey_validations_total counter\n");
  const CodeCounts socket = socket_totals();
  for (const auto &[path, counts] : {std::pair{"library", &usage_->library()}, std::pair{"socket", &socket}})
    for (int c = 0; c < EK_CODE_COUNT_; ++c)
      out.append("edgekey_validations_total{path=\"")
          .append(path)
          .append("\",status=\"")
          .append(std::to_string(ek_code_status(c)))
          .append("\",code=\"")
          .append(ek_code_name(c))
          .append("\"} ")
          .append(std::to_string((*counts)[c]))
          .append("\n");
  metric(out, "edgekey_revoked_key_uses_total", "counter",
         "Validations of revoked keys through every path (a leak signal).",
         double(usage_->library()[EK_CODE_REVOKED_KEY] + socket[EK_CODE_REVOKED_KEY]));
  metric(out, "edgekey_reader_processes", "gauge", "Processes validating through the library that edgekeyd counts.",
         double(usage_->reader_processes()));
  metric(out, "edgekey_usage_segments", "gauge", "Readers' usage segments being read.", double(usage_->segments()));
  metric(out, "edgekey_key_uses_unattributed_total", "counter",
         "Key uses a reader counted without the key (its usage segment was full).", double(usage_->unattributed()));
  if (!usage_publisher_) return;
  const UsagePublisher::Stats p = usage_publisher_->stats();
  metric(out, "edgekey_usage_published_total", "counter",
         "Keys' last use put into the origin's usage bucket and acknowledged.", double(p.published));
  metric(out, "edgekey_usage_publish_failures_total", "counter",
         "Puts of a key's last use that failed or went unanswered (the value waits for the next attempt).",
         double(p.failed));
  metric(out, "edgekey_usage_dropped_total", "counter",
         "Keys' last use not queued for the usage bucket (too many keys waiting, or an id no KV key can name).",
         double(p.dropped));
  metric(out, "edgekey_usage_waiting", "gauge", "Keys whose last use waits to be put into the usage bucket.",
         double(p.waiting));
}

void Daemon::metrics_text(http::Response &res) const {
  std::string out;
  usage_metrics(out);
  const auto st = writer_->stats();
  out.append("# HELP edgekey_table_keys Keys in the shared table by state.\n# TYPE edgekey_table_keys gauge\n");
  out.append("edgekey_table_keys{state=\"live\"} ").append(std::to_string(st.live)).append("\n");
  out.append("edgekey_table_keys{state=\"revoked\"} ").append(std::to_string(st.revoked)).append("\n");
  out.append("edgekey_table_keys{state=\"tombstone\"} ").append(std::to_string(st.tombstones)).append("\n");
  metric(out, "edgekey_table_capacity", "gauge", "Slots of the current generation.", double(st.capacity));
  metric(out, "edgekey_table_generation", "gauge", "Current table generation.", double(st.generation));
  metric(out, "edgekey_table_bytes", "gauge", "Bytes of the current data segment.", double(st.segment_bytes));
  metric(out, "edgekey_table_unplaced_keys", "gauge",
         "Upstream keys the table has no room for (see /v1/status table.room_problem).",
         double(applier_->unplaced()));
  metric(out, "edgekey_upstream_revision", "gauge", "Last upstream revision applied.", double(applier_->revision()));
  const int64_t contact = writer_->last_contact();
  metric(out, "edgekey_last_sync_age_seconds", "gauge", "Seconds since the last confirmed upstream contact.",
         contact ? double(int64_t(time(nullptr)) - contact) : -1.0);
  metric(out, "edgekey_records_rejected_total", "counter", "Upstream records rejected (logged with their key id).",
         double(applier_->rejected()));
  if (nats_) nats_metrics(out);
  metric(out, "edgekey_ready", "gauge", "1 after the first complete load.", ready_ ? 1 : 0);
  metric(out, "edgekey_snapshots_written_total", "counter", "Last-known-good snapshots written.",
         double(snapshot_writer_.state().written));
  metric(out, "edgekey_snapshot_failures_total", "counter", "Snapshot writes that failed (e.g. a full disk).",
         double(snapshot_writer_.state().failed));
  metric(out, "edgekey_snapshot_failing", "gauge", "1 while the last snapshot write failed (the previous stays).",
         snapshot_writer_.state().failing() ? 1 : 0);
  server_->stats().append_prometheus(out, "edgekey_socket");
  out.append(latency_.render_prometheus("edgekey_socket_request_duration_seconds",
                                        "Time from a complete request to its serialised answer."));
  res.status = 200;
  res.add_header("Content-Type", "text/plain; version=0.0.4");
  res.body = std::move(out);
}

void Daemon::nats_metrics(std::string &out) const {
  const auto &n = nats_->status();
  const uint64_t applied = applier_->revision();
  metric(out, "edgekey_upstream_connected", "gauge", "1 while connected to the region's NATS server.",
         n.connected ? 1 : 0);
  metric(out, "edgekey_upstream_stream_last_sequence", "gauge", "Last sequence of the region's stream (polled).",
         double(n.stream_last_seq));
  metric(out, "edgekey_upstream_pending_messages", "gauge", "Stream messages not applied here yet.",
         double(n.stream_last_seq > applied ? n.stream_last_seq - applied : 0));
  metric(out, "edgekey_upstream_origin_lag_messages", "gauge",
         "Messages the region's mirror is behind the origin bucket.", double(n.origin_lag));
  metric(out, "edgekey_upstream_snapshots_total", "counter", "Full snapshots loaded (cold starts, resyncs).",
         double(n.snapshots));
  metric(out, "edgekey_upstream_reconnects_total", "counter", "Reconnections to NATS.", double(n.reconnects));
  out.append("# HELP edgekey_upstream_propagation_seconds Origin write to applied in this table, per region.\n"
             "# TYPE edgekey_upstream_propagation_seconds histogram\n");
  propagation_.append_series(out, "edgekey_upstream_propagation_seconds", "region=\"" + cfg_.region + "\"");
}

}  // namespace edgekey::daemon
