// nats_source.cpp -- see nats_source.hpp. The worker thread's half, then the
// loop thread's; libnats' delivery thread runs DeliveryContext.
#include "sync/upstream/nats/nats_source.hpp"

#include "sync/record/record_json.hpp"
#include "sync/upstream/failure_text.hpp"
#include "sync/upstream/nats/nats_client.hpp"
#include "sync/upstream/nats/nats_streams.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <type_traits>
#include <variant>

namespace edgekey::sync {

namespace ev = nats_event;

namespace {

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// Any stream traffic is contact with the upstream too.
bool is_stream_traffic(const ev::Event &e) {
  return std::holds_alternative<ev::Put>(e) || std::holds_alternative<ev::Removal>(e) ||
         std::holds_alternative<ev::Rejected>(e) || std::holds_alternative<ev::CaughtUp>(e) ||
         std::holds_alternative<ev::SnapshotEnd>(e);
}

}  // namespace

NatsSource::NatsSource(uv_loop_t *loop, NatsOptions opts, Applier &applier, LogFn log)
    : loop_(loop), opts_(std::move(opts)), applier_(applier), log_(std::move(log)), async_(new uv_async_t),
      queue_(async_) {
  uv_async_init(loop_, async_, &NatsSource::on_async);
  async_->data = this;
}

NatsSource::~NatsSource() { close(); }

std::string NatsSource::identity() const {
  return "nats:" + (opts_.domain.empty() ? std::string("-") : opts_.domain) + "/" + opts_.stream;
}

void NatsSource::start(uint64_t resume_after) {
  applied_seq_ = resume_after;
  thread_ = std::thread([this] { worker(); });
}

void NatsSource::close() {
  queue_.stop();
  if (thread_.joinable()) thread_.join();
  if (async_) {
    async_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t *>(async_),
             [](uv_handle_t *h) { delete reinterpret_cast<uv_async_t *>(h); });
    async_ = nullptr;
  }
}

// ---- worker thread ----------------------------------------------------------
// Connects, subscribes, polls the stream every heartbeat and resubscribes
// when it was recreated; every blocking libnats call is made here. It owns
// the connection, sub_ and sub_ctx_ and tells the loop only by queue_.

void NatsSource::note(std::string text) { queue_.post(ev::Note{std::move(text)}); }

void NatsSource::fail(std::string text) { queue_.post(ev::Failed{std::move(text)}); }

// Anything that throws here (cannot connect; no memory) is reported and
// tried again after reconnect_wait; the connection and subscription stay as
// they were.
void NatsSource::worker() {
  std::unique_ptr<NatsClient> client;
  unsigned polls = 0;
  while (!queue_.stopped()) {
    try {
      if (!client) {
        NatsClient::Callbacks cb;
        cb.on_state = [this](bool up) { queue_.post(ev::State{up}); };
        cb.on_error = [this](const std::string &what) { queue_.post(ev::Warning{"NATS: " + what}); };
        client = std::make_unique<NatsClient>(opts_, "edgekeyd", std::move(cb));
        queue_.post(ev::State{true});
      }
      replace_if_lost();
      if (!sub_ && !subscribe(*client)) {
        queue_.wait_for(opts_.reconnect_wait);
        continue;
      }
      if (poll_stream(*client, polls++ % 5 == 0)) queue_.post(ev::Contact{int64_t(time(nullptr))});
    } catch (const std::exception &e) {
      try {
        fail(dynamic_cast<const NatsError *>(&e) ? std::string(e.what())
                                                 : "following stream " + opts_.stream + " in domain \"" +
                                                       opts_.domain + "\": " + failure_text(e) + "; tried again");
      } catch (const std::exception &) {  // no memory to say so: tried again all the same
      }
      queue_.wait_for(opts_.reconnect_wait);
      continue;
    }
    queue_.wait_for(opts_.heartbeat);
  }
  // The connection goes first: unsubscribing on a live one deletes the
  // consumer and waits up to the JetStream wait (30 s) for the answer, which
  // never comes while the region is unreachable; on a closed connection it
  // returns at once and the server drops the ephemeral consumer itself.
  client.reset();
  unsubscribe();
}

void NatsSource::replace_if_lost() {
  using Lost = DeliveryContext::Lost;
  Lost lost = resync_.exchange(Lost::No);
  if (sub_ && sub_ctx_) lost = std::max(lost, sub_ctx_->lost());
  if (lost == Lost::No) return;
  if (lost == Lost::Snapshot) force_cold_ = true;
  unsubscribe();
  // Repeats while memory stays short: a Warning, logged once a minute.
  const uint64_t from = force_cold_ ? 0 : applied_seq_.load();
  queue_.post(ev::Warning{"stream " + opts_.stream +
                          ": messages could not be taken in (out of memory); following it again " +
                          (from == 0 ? std::string("with a full snapshot") : "after sequence " + std::to_string(from))});
}

bool NatsSource::subscribe(NatsClient &c) {
  StreamState st;
  try {
    st = region_stream_state(c, opts_);
  } catch (const NatsError &e) {
    fail(e.what());
    return false;
  }
  uint64_t resume = force_cold_ ? 0 : applied_seq_.load();
  if (resume > 0 && st.last_seq < resume) {
    if (st.is_mirror && st.mirror_lag > 0) {
      // A mirror refilling from the origin: a snapshot now would drop keys.
      if (!waiting_for_mirror_)
        note("stream " + opts_.stream + " is at sequence " + std::to_string(st.last_seq) + ", below ours (" +
             std::to_string(resume) + ") and still catching up with the origin; waiting for it");
      waiting_for_mirror_ = true;
      return false;
    }
    note("stream " + opts_.stream + " ends at sequence " + std::to_string(st.last_seq) + ", below ours (" +
         std::to_string(resume) + "): it was recreated; taking a full snapshot");
    resume = 0;
  }
  waiting_for_mirror_ = false;

  const std::string subject = "$KV." + opts_.bucket + ".>";
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = opts_.stream.c_str();
  so.Ordered = true;
  so.Config.Heartbeat = int64_t(opts_.heartbeat.count()) * 1'000'000;
  // The loop drops what older subscriptions queued.
  auto ctx = std::make_unique<DeliveryContext>(queue_, ++epoch_, "$KV." + opts_.bucket + ".");
  if (resume > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = resume + 1;
    if (st.last_seq <= resume) queue_.post(ev::CaughtUp{ctx->epoch(), resume});
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;  // see the header
    queue_.post(ev::SnapshotBegin{ctx->epoch()});
    if (st.messages == 0) queue_.post(ev::SnapshotEnd{.epoch = ctx->epoch(), .seq = st.last_seq, .prepared = nullptr});
    else ctx->gather_snapshot(applier_.resolver(), size_t(st.messages));
  }
  // Creating a last-per-subject consumer over a large stream takes the
  // server a while: its request gets a longer wait than the others.
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = std::max<int64_t>(30'000, 10 * int64_t(opts_.request_timeout.count()));
  if (!opts_.domain.empty()) jo.Domain = opts_.domain.c_str();
  jsCtx *js = nullptr;
  natsStatus s = natsConnection_JetStream(&js, c.connection(), &jo);
  jsErrCode err = jsErrCode(0);
  if (s == NATS_OK)
    s = js_Subscribe(&sub_, js, subject.c_str(), &DeliveryContext::on_message, ctx.get(), nullptr, &so, &err);
  if (js) jsCtx_Destroy(js);  // the subscription holds its own reference
  if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(sub_, &DeliveryContext::on_complete, ctx.get());
  // A snapshot arrives faster than it is decoded: let libnats buffer it
  // rather than drop messages as a slow consumer (which resets the ordered
  // consumer and starts the delivery over). Flow control bounds it too.
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub_, 10'000'000, 1 << 30);
  if (s != NATS_OK) {
    fail("subscribing to stream " + opts_.stream + " in domain \"" + opts_.domain + "\": " + nats_error_text(s));
    if (sub_) natsSubscription_Destroy(sub_);
    sub_ = nullptr;
    return false;
  }
  sub_ctx_ = std::move(ctx);
  force_cold_ = false;
  stream_created_ = st.created_ns;
  note(std::string(resume > 0 ? "resuming" : "taking a full snapshot of") + " stream " + opts_.stream +
       (resume > 0 ? " after sequence " + std::to_string(resume) : std::string()) + " (" +
       std::to_string(st.messages) + " messages, last sequence " + std::to_string(st.last_seq) + ")");
  return true;
}

// libnats' last use of the subscription's context is on_complete, called on
// its delivery thread once the subscription is closed: by Unsubscribe on a
// live connection, or already by closing the connection (the worker's stop).
// The context is freed only after that call; if it never comes (bounded wait)
// it is left allocated rather than freed under a callback.
void NatsSource::unsubscribe() {
  if (!sub_) return;
  const bool closing = natsSubscription_Unsubscribe(sub_) == NATS_OK || !natsSubscription_IsValid(sub_);
  if (closing) sub_ctx_->completed_within(std::chrono::seconds(5));
  natsSubscription_Destroy(sub_);
  sub_ = nullptr;
  if (sub_ctx_->completed_within(std::chrono::milliseconds(0))) sub_ctx_.reset();
  else (void)sub_ctx_.release();  // libnats may still call back with it: never free it
}

bool NatsSource::poll_stream(NatsClient &c, bool report_failure) {
  // Read ours first: the stream held at least this much before the request,
  // so a smaller last sequence in the answer means a new stream.
  const uint64_t ours = applied_seq_.load();
  StreamState st;
  try {
    st = region_stream_state(c, opts_);
  } catch (const NatsError &e) {
    if (report_failure) fail(e.what());  // every 5th poll: the same text is logged once a minute anyway
    return false;
  }
  if (st.no_quorum) {
    queue_.post(ev::NoContact{"stream " + opts_.stream + " in domain \"" + opts_.domain +
                              "\" has no quorum in its cluster (" + c.servers() +
                              "): no leader, or one cut off from its peers; it takes nothing from the origin " +
                              "meanwhile, so there is no contact until it has (check the region's nats-servers)"});
    return false;
  }
  queue_.post(ev::StreamInfo{st.last_seq, st.mirror_lag, st.mirror_active_ms});
  const bool recreated = (stream_created_ != 0 && st.created_ns != stream_created_) || st.last_seq < ours;
  if (recreated && !(st.is_mirror && st.mirror_lag > 0)) {
    note("stream " + opts_.stream + " was recreated (last sequence " + std::to_string(st.last_seq) +
         ", ours " + std::to_string(ours) + "): resynchronising from a full snapshot");
    unsubscribe();
    force_cold_ = true;
  }
  return true;
}

// ---- loop thread --------------------------------------------------------------
// Applies queue_'s events in order: the only thread touching the Applier,
// status_ and the daemon's callbacks. It writes applied_seq_, which the
// worker reads.

void NatsSource::on_async(uv_async_t *a) {
  if (auto *self = static_cast<NatsSource *>(a->data)) self->drain();
}

void NatsSource::drain() {
  std::deque<ev::Event> batch = queue_.take();
  changed_ = false;
  bool heard = false;
  try {
    for (auto &e : batch) {
      heard |= is_stream_traffic(e);
      apply(e);
    }
    if (heard) {
      status_.last_contact = int64_t(time(nullptr));
      applier_.contact(status_.last_contact);
    }
    if (changed_ && on_change) on_change();
  } catch (const std::exception &e) {
    abandon(e);
  }
}

void NatsSource::abandon(const std::exception &e) noexcept {
  abandoned_epoch_ = epoch_.load();
  resync_.store(snapshot_mode_ ? DeliveryContext::Lost::Snapshot : DeliveryContext::Lost::Message);
  try {
    log_(Severity::Error, "stream " + opts_.stream + ": an update could not be applied (" + failure_text(e) +
                              "); the table keeps what it has and follows the stream again from there");
  } catch (const std::exception &) {  // no memory to say so: replaced all the same
  }
}

void NatsSource::apply(ev::Event &event) {
  std::visit(
      [this](auto &e) {
        if constexpr (ev::FromSubscription<std::remove_cvref_t<decltype(e)>>)
          if (e.epoch != epoch_.load() || e.epoch == abandoned_epoch_) return;  // a subscription since replaced
        handle(e);
      },
      event);
}

// A message: a record put, or a removal of the KV key. While snapshotting
// the delivery thread keeps the snapshot, and the loop applies to the live
// table at once only what cannot wait for it: revocations and removals.
void NatsSource::handle(ev::Put &e) {
  ++status_.messages;
  if (snapshot_mode_) {
    if (e.record.record().status == KeyStatus::Revoked && applier_.upsert(e.record, applier_.revision()))
      changed_ = true;
    return;
  }
  const std::optional<int64_t> written = e.record.record().origin_written_at;
  if (applier_.upsert(e.record, e.seq) && written && on_latency) on_latency(now_ms() - *written);
  advance(e.seq, e.pending);
}

void NatsSource::handle(ev::Removal &e) {
  ++status_.messages;
  if (snapshot_mode_) {
    if (applier_.remove_id(e.key, applier_.revision())) changed_ = true;
    return;
  }
  applier_.remove_id(e.key, e.seq);
  advance(e.seq, e.pending);
}

void NatsSource::handle(ev::Rejected &e) {
  ++status_.messages;
  ++status_.rejected;
  log_(Severity::Warn, "upstream record " + quote_for_error(e.key) + " (stream sequence " + std::to_string(e.seq) +
                        ") rejected: " + e.why + "; its previous version, if any, stays");
  if (!snapshot_mode_) advance(e.seq, e.pending);
}

void NatsSource::advance(uint64_t seq, uint64_t pending) {
  applied_seq_ = std::max(applied_seq_.load(), seq);
  changed_ = true;
  if (pending == 0) synced();
}

void NatsSource::handle(ev::SnapshotBegin &) {
  snapshot_started_ = std::chrono::steady_clock::now();
  snapshot_mode_ = true;
  status_.snapshotting = true;
}

void NatsSource::handle(ev::SnapshotEnd &e) {
  status_.messages += e.folded;
  if (!snapshot_mode_) return;
  const auto streamed = std::chrono::steady_clock::now();
  if (e.prepared) applier_.load_prepared(std::move(*e.prepared), e.seq);
  else applier_.load({}, e.seq);  // an empty stream
  e.prepared.reset();
  const auto loaded = std::chrono::steady_clock::now();
  const size_t n = applier_.size();
  auto ms = [](auto d) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
  applied_seq_ = e.seq;
  snapshot_mode_ = false;
  status_.snapshotting = false;
  ++status_.snapshots;
  changed_ = true;
  log_(Severity::Info, "loaded a full snapshot of " + std::to_string(n) + " records from " + identity() +
                        " at sequence " + std::to_string(e.seq) + " (streamed in " + ms(streamed - snapshot_started_) +
                        " ms, resolved and indexed as it came, " + std::to_string(e.prepare_ms) +
                        " ms to finish after the last message; table built on the loop in " +
                        ms(loaded - streamed) + " ms)");
  synced();
}

void NatsSource::handle(ev::CaughtUp &) { synced(); }

void NatsSource::handle(ev::State &e) {
  if (e.connected == status_.connected) return;
  status_.connected = e.connected;
  if (e.connected && status_.last_contact) ++status_.reconnects;
  log_(e.connected ? Severity::Info : Severity::Warn,
       e.connected ? "connected to NATS (" + identity() + ")" : "disconnected from NATS; reconnecting");
}

void NatsSource::handle(ev::Contact &e) {
  status_.last_contact = e.at;
  applier_.contact(e.at);
}

void NatsSource::handle(ev::StreamInfo &e) {
  status_.stream_last_seq = e.last_seq;
  status_.origin_lag = e.lag;
  status_.origin_active_ms = e.active_ms;
}

void NatsSource::handle(ev::Note &e) { log_(Severity::Info, e.text); }

void NatsSource::handle(ev::Warning &e) { log_once_a_minute(Severity::Error, e.text); }

void NatsSource::handle(ev::NoContact &e) {
  status_.last_error = e.text;
  log_once_a_minute(Severity::Warn, e.text);
}

void NatsSource::handle(ev::Failed &e) {
  log_once_a_minute(Severity::Error, e.text);
  status_.last_error = e.text;
  if (!status_.synced && !failure_reported_) {
    failure_reported_ = true;
    if (on_synced) on_synced(false);
  }
}

// The same failure repeats every retry: log each text once a minute.
void NatsSource::log_once_a_minute(Severity level, const std::string &text) {
  const int64_t now = int64_t(time(nullptr));
  auto [it, fresh] = error_logged_.try_emplace(text, now);
  if (fresh || now - it->second >= 60) {
    it->second = now;
    log_(level, text);
  }
  if (error_logged_.size() > 64) error_logged_.clear();
}

void NatsSource::synced() {
  if (status_.synced) return;
  status_.synced = true;
  if (on_synced) on_synced(true);
}

}  // namespace edgekey::sync
