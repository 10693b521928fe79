#include "daemon/edgekeyd/daemon.hpp"

#include "daemon/edgekeyd/log.hpp"
#include "sync/upstream/failure_text.hpp"
#include "sync/upstream/snapshot.hpp"

#include <csignal>
#include <ctime>

namespace edgekey::daemon {

namespace {

int64_t now_s() { return int64_t(time(nullptr)); }

http::ServerConfig server_config(const Config &c) {
  http::ServerConfig s;
  s.socket_path = c.socket.path;
  s.socket_mode = c.socket.mode;
  s.limits.max_connections = c.limits.max_connections;
  s.limits.max_header_bytes = c.limits.max_header_bytes;
  s.limits.max_body_bytes = c.limits.max_body_bytes;
  s.limits.idle_timeout = c.limits.idle_timeout;
  s.limits.request_timeout = c.limits.request_timeout;
  return s;
}

void sync_log(Severity s, const std::string &msg) { log(s, "%s", msg.c_str()); }

}  // namespace

Daemon::Daemon(std::string config_path, Config cfg)
    : config_path_(std::move(config_path)), cfg_(std::move(cfg)), validate_(cfg_.table.address()) {
  set_log_severity(cfg_.log_level);
  uv_loop_init(&loop_);
}

Daemon::~Daemon() {
  // Handles were closed by stop(); run their close callbacks, then free.
  server_.reset();
  file_.reset();
  nats_.reset();
  usage_publisher_.reset();
  uv_run(&loop_, UV_RUN_NOWAIT);
  uv_loop_close(&loop_);
}

int Daemon::run() {
  start();
  // Every callback catches what it can fail on; one that did not would
  // leave the loop half run: said as what it is, not as a start-up error.
  try {
    uv_run(&loop_, UV_RUN_DEFAULT);
  } catch (const std::exception &e) {
    log(Severity::Error, "edgekeyd stops on an error its loop did not catch: %s; the table %s stays for its readers",
        sync::failure_text(e).c_str(), cfg_.table.address().c_str());
    return 1;
  }
  log(Severity::Info, "edgekeyd stopped; the table %s stays for its readers",
      cfg_.table.address().c_str());
  return 0;
}

void Daemon::start() {
  started_at_ = now_s();
  signal(SIGPIPE, SIG_IGN);
  uv_timer_init(&loop_, &snapshot_timer_);  // a first load schedules a snapshot
  snapshot_timer_.data = this;
  // Signals are handled from the start: a SIGTERM during a long load stops
  // the loop cleanly instead of killing the process mid-write.
  for (auto [sig, h] : {std::pair{SIGHUP, &sighup_}, {SIGTERM, &sigterm_}, {SIGINT, &sigint_}}) {
    uv_signal_init(&loop_, h);
    h->data = this;
    uv_signal_start(h, [](uv_signal_t *s, int signum) {
      auto *d = static_cast<Daemon *>(s->data);
      if (signum == SIGHUP) d->reload_config();
      else d->stop();
    }, sig);
  }

  writer_ = std::make_unique<shm::TableWriter>(to_table_options(cfg_));
  if (!writer_->current()) {  // a new table: its first generation must fit, or nothing starts
    const shm::TableWriter::Room room = shm::TableWriter::first_generation_room(to_table_options(cfg_));
    if (!room.fits) throw shm::TableError(room.line);
  }
  if (writer_->attached())
    log(Severity::Info, "re-attached to table %s (generation %llu, %llu keys, revision %llu)%s",
        cfg_.table.address().c_str(), (unsigned long long)writer_->stats().generation,
        (unsigned long long)writer_->stats().live, (unsigned long long)writer_->revision(),
        writer_->torn_slots() ? ": half-written records found, a full load repairs them" : "");
  usage_ = std::make_unique<UsageCollector>(cfg_.table.address(),
                                            cfg_.snapshot.empty() ? "" : cfg_.snapshot + ".usage");
  for (const std::string &problem : {usage_->prepare(cfg_.table.readers_group), usage_->load_state()})
    if (!problem.empty()) log(Severity::Warn, "%s", problem.c_str());
  validate_.on_answer = [this](const Result &r) {
    if (r.key_id[0]) usage_->note_use(r.key_id, now_s());
  };
  applier_ = std::make_unique<sync::Applier>(*writer_, cfg_.policy, [](const std::string &m) {
    log(Severity::Warn, "rejected %s", m.c_str());
  });

  const char *loaded = nullptr;
  start_usage_publisher();
  if (cfg_.upstream.kind == UpstreamKind::Nats) {
    start_nats();  // readiness comes from the source, once the loop runs
  } else {
    loaded = load_upstream() ? "upstream" : load_snapshot() ? "snapshot" : nullptr;
    if (!loaded)
      log(Severity::Error, "no keys loaded yet: validations answer 503 keyset_unavailable until the upstream is readable");
  }

  server_ = std::make_unique<http::HttpServer>(
      &loop_, server_config(cfg_), [this](const http::Request &q, http::Response &r) { handle(q, r); });
  server_->set_latency_hook([this](const http::Request &, const http::Response &, std::chrono::nanoseconds d) {
    latency_.observe(d);
  });
  server_->start();
  log(Severity::Info, "serving on %s (table %s, region %s)", cfg_.socket.path.c_str(),
      cfg_.table.address().c_str(), cfg_.region.c_str());
  if (loaded) mark_ready(loaded);  // READY=1 once the socket answers

  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uint64_t period_ms = 1000;
  if (auto wd = notify_.watchdog_interval(); wd.count() > 0)
    period_ms = std::min<uint64_t>(period_ms, std::max<uint64_t>(1, uint64_t(wd.count() / 1000)));
  uv_timer_start(&tick_, [](uv_timer_t *t) { static_cast<Daemon *>(t->data)->tick(); }, period_ms, period_ms);
}

std::string Daemon::upstream_identity() const {
  if (nats_) return nats_->identity();
  return "file:" + cfg_.upstream.file;
}

bool Daemon::load_upstream() {
  if (cfg_.upstream.kind == UpstreamKind::Nats) {
    start_nats();
    return false;
  }
  file_ = std::make_unique<sync::FileSource>(&loop_, cfg_.upstream.file, *applier_,
                                             sync_log);
  file_->on_change = [this] {
    if (!ready_ && server_) mark_ready("upstream");  // a late first load
    from_snapshot_ = false;
    schedule_snapshot();
  };
  return file_->start();
}

// NATS: a snapshot on disk taken from the same stream makes this a warm
// start (the source resumes after its revision, and it is served if the
// upstream is unreachable); READY=1 follows the first complete load or
// catch-up, or the first failure when a snapshot is there to serve.
void Daemon::start_nats() {
  nats_ = std::make_unique<sync::NatsSource>(&loop_, cfg_.upstream.nats, *applier_,
                                             sync_log);
  uint64_t resume = 0;
  sync::SnapshotLoad s = sync::load_snapshot(cfg_.snapshot);
  if (s.ok() && s.snapshot.source == nats_->identity()) {
    // Skipped lines mean records may be missing: take a full snapshot instead of resuming.
    if (s.skipped_lines.empty()) resume = s.snapshot.revision;
    apply_snapshot(s);
    log(Severity::Info, "loaded %zu keys from the snapshot %s (revision %llu); resuming %s", applier_->size(),
        cfg_.snapshot.c_str(), (unsigned long long)s.snapshot.revision, nats_->identity().c_str());
  } else if (s.ok()) {
    log(Severity::Info, "snapshot %s is of %s, not %s: taking a full snapshot from NATS", cfg_.snapshot.c_str(),
        s.snapshot.source.empty() ? "an unnamed upstream" : s.snapshot.source.c_str(), nats_->identity().c_str());
  }
  nats_->on_synced = [this](bool ok) {
    if (ok) {
      from_snapshot_ = false;
      if (!ready_) mark_ready("upstream");
      schedule_snapshot();
    } else if (from_snapshot_ && !ready_) {
      log(Severity::Warn, "NATS unreachable: serving %zu keys from the snapshot %s (staleness policy applies)",
          applier_->size(), cfg_.snapshot.c_str());
      mark_ready("snapshot");
    } else if (!ready_) {
      log(Severity::Error, "no keys loaded yet: validations answer 503 keyset_unavailable until NATS is reachable");
    }
  };
  nats_->on_change = [this] {
    if (nats_->status().synced) schedule_snapshot();
  };
  nats_->on_latency = [this](int64_t ms) { propagation_.observe(std::chrono::milliseconds(ms)); };
  nats_->start(resume);
}

bool Daemon::load_snapshot() {
  sync::SnapshotLoad s = sync::load_snapshot(cfg_.snapshot);
  if (!s.ok()) {
    log(Severity::Warn, "%s", s.error.c_str());
    return false;
  }
  apply_snapshot(s);
  log(Severity::Warn, "serving %zu keys from the snapshot %s written %s (staleness policy applies)",
      applier_->size(), cfg_.snapshot.c_str(), sync::format_time(s.snapshot.written_at).c_str());
  return true;
}

void Daemon::apply_snapshot(sync::SnapshotLoad &s) {
  for (const auto &line : s.skipped_lines) log(Severity::Warn, "snapshot record skipped: %s", line.c_str());
  applier_->load(std::move(s.snapshot.records), s.snapshot.revision);
  applier_->contact(s.snapshot.written_at);  // as fresh as the snapshot, no fresher
  from_snapshot_ = true;
}

void Daemon::mark_ready(const std::string &how) {
  ready_ = true;
  status_sent_ = status_line();
  notify_.ready(status_sent_);
  log(Severity::Info, "ready: %zu keys from the %s", applier_->size(), how.c_str());
  if (cfg_.table.huge_pages != shm::HugePages::Off || !cfg_.table.directory.empty())
    log(Severity::Info, "%s", writer_->huge_page_report().c_str());
}

std::string Daemon::status_line() const {
  return std::to_string(applier_ ? applier_->size() : 0) + " keys, revision " +
         std::to_string(applier_ ? applier_->revision() : 0) + (from_snapshot_ ? " (from snapshot)" : "");
}

// Once a second. The heartbeat, the upstream's contact and the watchdog
// come first and allocate nothing: edgekeyd stays seen alive and fresh while
// the rest fails for want of memory (logged once per change, tried again
// each tick; an exception must not unwind through libuv).
void Daemon::tick() {
  const int64_t now = now_s();
  writer_->heartbeat(now);
  if (file_ && file_->healthy()) applier_->contact(now);
  notify_.watchdog();
  try {
    collect_snapshot();
    place_unplaced();
    collect_usage(false);
    publish_usage(now);
    // STATUS= at most once a tick: sd_notify blocks when the manager is slow
    // to read, and a burst of changes must not stall the loop on it.
    if (std::string st = status_line(); ready_ && st != status_sent_) {
      notify_.status(st);
      status_sent_ = std::move(st);
    }
    if (tick_failing_) log(Severity::Info, "the once-a-second work runs again");
    tick_failing_ = false;
  } catch (const std::exception &e) {
    if (!tick_failing_)
      log(Severity::Error, "the once-a-second work (usage counts, snapshot retries, status) failed: %s; edgekeyd "
          "serves on and tries it again every second (logged again when it runs)", sync::failure_text(e).c_str());
    tick_failing_ = true;
  }
}

CodeCounts Daemon::socket_totals() const {
  CodeCounts c = usage_->socket_saved();
  for (size_t i = 0; i < c.size(); ++i) c[i] += validate_.by_code()[i];
  return c;
}

// The readers' usage segments, folded about once a second (a key's last use
// is then at most ~2 s behind: the readers' clock is the heartbeat).
void Daemon::collect_usage(bool force_save) {
  const int64_t now = now_s();
  usage_->scan(applier_->store(), now, [this, now](const sync::KeyRecord &r) {
    validate_.revoked_log().record(r.id, r.workspace, now);
  });
  // Logged once per change between failing and saving, not every attempt.
  const std::string problem = usage_->save_state(socket_totals(), now, force_save);
  if (!problem.empty()) {
    if (!usage_save_failing_) log(Severity::Warn, "%s (tried again; the counts are kept meanwhile)", problem.c_str());
    usage_save_failing_ = true;
  } else if (usage_save_failing_ && usage_->saved_at() == now) {
    log(Severity::Info, "usage state saved again");
    usage_save_failing_ = false;
  }
}

// Keys' last use across regions: with the NATS upstream, a publisher of its
// own (a second NATS connection) puts each key's latest use into the origin's
// usage bucket, off the loop thread.
void Daemon::start_usage_publisher() {
  usage_publisher_.reset();
  if (cfg_.upstream.kind != UpstreamKind::Nats || cfg_.upstream.nats.usage_interval.count() == 0) return;
  if (host_.empty()) host_ = sync::usage_host_name();
  UsagePublisher::Options o;
  o.nats = cfg_.upstream.nats;
  o.interval = cfg_.upstream.nats.usage_interval;
  usage_publisher_ = std::make_unique<UsagePublisher>(std::move(o), [](bool problem, const std::string &line) {
    log(problem ? Severity::Warn : Severity::Info, "%s", line.c_str());
  });
  usage_republish_ = true;  // what an earlier run may not have published
}

// Once a tick: the keys whose last use moved (and, for a new publisher, every
// key used in the last day), each with its uses on this host over the last day.
void Daemon::publish_usage(int64_t now) {
  std::vector<std::string> ids = usage_->take_changed();
  if (!usage_publisher_) return;
  if (usage_republish_)
    for (const auto &[id, k] : usage_->keys())
      if (k.last_used >= now - 86400) ids.push_back(id);
  usage_republish_ = false;
  std::vector<sync::UsageEntry> entries;
  entries.reserve(ids.size());
  for (const std::string &id : ids)
    if (const KeyUse *k = usage_->key(id); k && k->last_used)
      entries.push_back({id, cfg_.region, host_, k->last_used, k->last_day(now), now});
  usage_publisher_->offer(std::move(entries));
}

// Keys the table had no room for: tried again when the filesystem has room
// for the table to grow (or keys were removed); logged once per change of
// their number, not per key or per tick.
void Daemon::place_unplaced() {
  if (applier_->unplaced() && applier_->retry_unplaced()) schedule_snapshot();
  const size_t n = applier_->unplaced();
  if (n == unplaced_logged_) return;
  if (n)
    log(Severity::Error, "%zu keys of the upstream are not in the table %s (they answer unknown_key here; /readyz "
        "is not ready until they are): %s", n, cfg_.table.address().c_str(), applier_->room_problem().c_str());
  else
    log(Severity::Info, "the table %s holds every key of the upstream again (%zu keys)",
        cfg_.table.address().c_str(), applier_->size());
  unplaced_logged_ = n;
}

void Daemon::schedule_snapshot() {
  // After a burst of changes, once things are quiet (for longer when a write takes long).
  uv_update_time(&loop_);  // a change may come at the end of a long load: count from now
  uv_timer_start(&snapshot_timer_, [](uv_timer_t *t) { static_cast<Daemon *>(t->data)->write_snapshot(); },
                 snapshot_writer_.delay_ms(uv_now(&loop_)), 0);
}

sync::Snapshot Daemon::make_snapshot() const {
  sync::Snapshot s;
  s.revision = applier_->revision();
  s.written_at = now_s();
  s.region = cfg_.region;
  s.source = upstream_identity();
  s.records = applier_->records();
  return s;
}

// The loop copies the records; the SnapshotWriter's thread encodes and
// writes them. A burst that ends while a write runs is written after it.
// A copy that finds no memory is a failed write like any other: logged once
// per change of state and tried again after the back-off.
void Daemon::write_snapshot() {
  if (cfg_.snapshot.empty()) return;
  collect_snapshot();
  if (snapshot_writer_.busy()) {
    schedule_snapshot();
    return;
  }
  uv_timer_stop(&snapshot_timer_);  // a retry collect_snapshot() just set: this write is it
  try {
    snapshot_writer_.start(cfg_.snapshot, make_snapshot());
  } catch (const std::exception &e) {
    snapshot_writer_.not_started(cfg_.snapshot, e);  // the next tick collects it (logs, retries)
  }
}

// A failed write (a full disk) is tried again after a back-off even without
// a change; a change meanwhile schedules one sooner (the timer is active).
void Daemon::collect_snapshot() {
  if (!snapshot_writer_.collect(now_s()) || !snapshot_writer_.state().failing() || stopping_) return;
  if (!uv_is_active(reinterpret_cast<uv_handle_t *>(&snapshot_timer_)))
    uv_timer_start(&snapshot_timer_, [](uv_timer_t *t) { static_cast<Daemon *>(t->data)->write_snapshot(); },
                   snapshot_writer_.retry_delay_ms(), 0);
}

void Daemon::reload_config() {
  notify_.reloading();
  try {
    Config next = load_config(config_path_);
    if (next.table.name != cfg_.table.name || next.table.directory != cfg_.table.directory ||
        next.socket.path != cfg_.socket.path)
      log(Severity::Warn, "table.name, table.directory and socket.path changes take effect on restart");
    next.table.name = cfg_.table.name;
    next.table.directory = cfg_.table.directory;
    next.socket = cfg_.socket;
    // The table first: rebuilt under the new settings, or (when that
    // throws) left serving under the old ones, which the writer gets back;
    // the rest of the config is taken only then.
    const shm::TableOptions running = to_table_options(cfg_);
    writer_->set_options(to_table_options(next));
    try {
      applier_->set_policy(next.policy);
    } catch (const std::exception &) {
      writer_->set_options(running);
      throw;
    }
    set_log_severity(next.log_level);
    const bool upstream_changed = next.upstream.file != cfg_.upstream.file ||
                                  next.upstream.kind != cfg_.upstream.kind ||
                                  next.upstream.nats.servers != cfg_.upstream.nats.servers ||
                                  next.upstream.nats.domain != cfg_.upstream.nats.domain ||
                                  next.upstream.nats.stream != cfg_.upstream.nats.stream;
    const bool usage_changed = next.upstream.nats.usage_bucket != cfg_.upstream.nats.usage_bucket ||
                               next.upstream.nats.usage_interval != cfg_.upstream.nats.usage_interval ||
                               next.upstream.nats.origin_domain != cfg_.upstream.nats.origin_domain;
    cfg_ = std::move(next);
    if (upstream_changed) {
      if (file_) file_->close();
      if (nats_) nats_->close();
      file_.reset();
      nats_.reset();
      if (load_upstream() && !ready_) mark_ready("upstream");
    } else if (file_) {
      file_->reload();
    }
    if (upstream_changed || usage_changed) start_usage_publisher();
    log(Severity::Info, "config %s reloaded", config_path_.c_str());
  } catch (const std::exception &e) {
    log(Severity::Error, "config not reloaded, keeping the running one: %s", sync::failure_text(e).c_str());
  }
  notify_.ready(status_line());
}

void Daemon::stop() {
  if (stopping_) return;
  stopping_ = true;
  notify_.stopping();
  log(Severity::Info, "stopping");
  if (server_) server_->close();
  if (file_) file_->close();
  if (nats_) nats_->close();
  usage_publisher_.reset();  // values not yet published wait for the next start
  uv_timer_stop(&snapshot_timer_);
  // The last snapshot, written before exit (after any write in flight); the
  // handles close whatever becomes of it.
  snapshot_writer_.wait();
  collect_snapshot();
  if (applier_ && ready_ && !from_snapshot_ && !cfg_.snapshot.empty()) {
    try {
      snapshot_writer_.start(cfg_.snapshot, make_snapshot());
    } catch (const std::exception &e) {
      snapshot_writer_.not_started(cfg_.snapshot, e);
    }
    snapshot_writer_.wait();
    collect_snapshot();
  }
  if (usage_ && applier_) {
    try {
      collect_usage(true);
    } catch (const std::exception &e) {
      log(Severity::Error, "usage counts not saved at exit: %s; the last saved ones stay",
          sync::failure_text(e).c_str());
    }
  }
  for (uv_handle_t *h : {(uv_handle_t *)&tick_, (uv_handle_t *)&snapshot_timer_, (uv_handle_t *)&sighup_,
                         (uv_handle_t *)&sigterm_, (uv_handle_t *)&sigint_})
    if (!uv_is_closing(h)) uv_close(h, nullptr);
}

}  // namespace edgekey::daemon
