// api.cpp -- edgekeyd's HTTP routes (DESIGN.md "Daemon"):
//   /v1/validate       the validation answer (validate_route.cpp), for any
//                      method and under /v1/validate/ too (Envoy ext_authz)
//   GET /v1/status     table, upstream and freshness as JSON
//   GET /v1/keys/{id}  a key's metadata (never a token, never its hash)
//   GET /healthz       the loop answers
//   GET /readyz        200 once the first full load is done and the table
//                      holds every key of the upstream, else 503
//   GET /metrics       Prometheus text
#include "daemon/edgekeyd/daemon.hpp"
#include "daemon/edgekeyd/json_text.hpp"
#include "sync/record_json.hpp"

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
  constexpr std::string_view kKeys = "/v1/keys/";
  if (path.substr(0, kKeys.size()) == kKeys && path.size() > kKeys.size())
    return key_json(std::string(path.substr(kKeys.size())), res);
  text(res, 404, "no such endpoint: try /v1/validate, /v1/status, /v1/keys/{id}, /healthz, /readyz, /metrics\n");
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
  nlohmann::json j = nlohmann::json::parse(sync::encode_record_json(*r));
  j.erase("hash");
  j.erase("origin_written_at");
  json(res, 200, j);
}

void Daemon::metrics_text(http::Response &res) const {
  std::string out;
  out.append("# HELP edgekey_validations_total Validation answers over the socket, by status and code.\n"
             "# TYPE edgekey_validations_total counter\n");
  for (int c = 0; c < EK_CODE_COUNT_; ++c)
    out.append("edgekey_validations_total{status=\"")
        .append(std::to_string(ek_code_status(c)))
        .append("\",code=\"")
        .append(ek_code_name(c))
        .append("\"} ")
        .append(std::to_string(validate_.by_code()[c]))
        .append("\n");
  metric(out, "edgekey_revoked_key_uses_total", "counter", "Validations of revoked keys (a leak signal).",
         double(validate_.revoked_uses()));
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
