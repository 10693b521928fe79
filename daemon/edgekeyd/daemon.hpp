// daemon.hpp -- edgekeyd: one libuv loop owning the table writer, the
// upstream source, the Unix-socket API, timers and signals.
//
// Lifecycle: the table is created or re-attached (readers keep the previous
// daemon's table meanwhile); the upstream is loaded (or, if unreadable, the
// on-disk snapshot); then READY=1, the socket serves, live changes apply.
// SIGHUP reloads the config (a bad one keeps the old, logged); SIGTERM stops
// the loop and leaves the table to the readers.
// Everything runs on the loop thread.
#pragma once

#include "daemon/config/config.hpp"
#include "daemon/edgekeyd/notify.hpp"
#include "daemon/edgekeyd/snapshot_writer.hpp"
#include "daemon/edgekeyd/usage_collector.hpp"
#include "daemon/edgekeyd/usage_publisher.hpp"
#include "daemon/edgekeyd/validate_route.hpp"
#include "daemon/http/histogram.hpp"
#include "daemon/http/server.hpp"
#include "shm/writer/table_writer.hpp"
#include "sync/upstream/applier.hpp"
#include "sync/upstream/file_source.hpp"
#include "sync/upstream/nats/nats_source.hpp"
#include "sync/upstream/snapshot.hpp"

#include <nlohmann/json.hpp>
#include <uv.h>

#include <memory>
#include <string>

namespace edgekey::daemon {

class Daemon {
 public:
  Daemon(std::string config_path, Config cfg);
  ~Daemon();
  // Runs until SIGTERM/SIGINT. Returns the process exit code. Throws at
  // start-up (table, socket) with a message naming what and why.
  int run();

  // The HTTP API (also called by tests through the socket).
  void handle(const http::Request &req, http::Response &res);

 private:
  void start();
  bool load_upstream();
  void start_nats();
  bool load_snapshot();
  // A loaded on-disk snapshot into the table, as fresh as it was written.
  void apply_snapshot(sync::SnapshotLoad &s);
  std::string upstream_identity() const;
  void mark_ready(const std::string &how);
  void reload_config();
  void stop();
  void tick();
  void place_unplaced();
  void schedule_snapshot();
  void write_snapshot();
  sync::Snapshot make_snapshot() const;
  void collect_snapshot();  // takes a finished background write's outcome; retries a failed one
  std::string status_line() const;
  void collect_usage(bool force_save);
  CodeCounts socket_totals() const;  // the socket's answers, saved ones included
  void start_usage_publisher();      // NATS with upstream.nats.usage_interval > 0; else none
  void publish_usage(int64_t now);   // offers the keys whose last use moved to usage_publisher_

  // api.cpp
  void status_json(http::Response &res) const;
  void key_json(const std::string &id, http::Response &res) const;
  void metrics_text(http::Response &res) const;
  void usage_metrics(std::string &out) const;
  nlohmann::json key_use_json(const std::string &id) const;
  void usage_json(http::Response &res) const;
  nlohmann::json nats_status_json() const;
  void nats_metrics(std::string &out) const;

  std::string config_path_;
  Config cfg_;
  uv_loop_t loop_{};
  std::unique_ptr<shm::TableWriter> writer_;
  std::unique_ptr<sync::Applier> applier_;
  std::unique_ptr<sync::FileSource> file_;
  std::unique_ptr<sync::NatsSource> nats_;
  std::unique_ptr<http::HttpServer> server_;
  ValidateRoute validate_;
  std::unique_ptr<UsageCollector> usage_;
  bool usage_save_failing_ = false;  // the last attempt to save its state failed (logged once)
  std::unique_ptr<UsagePublisher> usage_publisher_;
  bool usage_republish_ = false;  // a new publisher: offer every key used in the last day once
  std::string host_;              // this host in usage entries (sync::usage_host_name)
  http::LatencyHistogram latency_;
  // Origin write -> applied here (NATS), in ms buckets from 1 ms to 60 s.
  http::LatencyHistogram propagation_{{1000, 2000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                                       1000000, 2500000, 5000000, 10000000, 60000000}};
  Notifier notify_;
  uv_signal_t sighup_{}, sigterm_{}, sigint_{};
  uv_timer_t tick_{}, snapshot_timer_{};
  bool ready_ = false, from_snapshot_ = false, stopping_ = false;
  bool tick_failing_ = false;  // the last tick's work threw (logged once)
  int64_t started_at_ = 0;
  SnapshotWriter snapshot_writer_;
  std::string status_sent_;  // the last STATUS= sent
  size_t unplaced_logged_ = 0;  // applier_->unplaced() as last logged
};

}  // namespace edgekey::daemon
