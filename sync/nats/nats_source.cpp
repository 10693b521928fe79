// nats_source.cpp -- see nats_source.hpp.
#include "sync/nats/nats_source.hpp"

#include "sync/nats/js_delivery.hpp"
#include "sync/nats/nats_client.hpp"
#include "sync/nats/nats_streams.hpp"
#include "sync/record_json.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <vector>

namespace edgekey::sync {

namespace {

constexpr size_t kSpentBatch = 256;  // see SubContext::spent

int64_t now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

NatsSource::NatsSource(uv_loop_t *loop, NatsOptions opts, Applier &applier, LogFn log)
    : loop_(loop), opts_(std::move(opts)), applier_(applier), log_(std::move(log)) {
  async_ = new uv_async_t;
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
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (async_) {
    async_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t *>(async_),
             [](uv_handle_t *h) { delete reinterpret_cast<uv_async_t *>(h); });
    async_ = nullptr;
  }
}

// ---- worker thread --------------------------------------------------------

void NatsSource::wait_for(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, d, [this] { return stop_; });
}

void NatsSource::post(Event e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    queue_.push_back(std::move(e));
  }
  uv_async_send(async_);
}

void NatsSource::note(const std::string &text) {
  Event e(Event::Note);
  e.data = text;
  post(std::move(e));
}

void NatsSource::fail(const std::string &text) {
  Event e(Event::Failed);
  e.data = text;
  post(std::move(e));
}

void NatsSource::worker() {
  std::unique_ptr<NatsClient> client;
  unsigned polls = 0;
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) break;
    }
    if (!client) {
      try {
        NatsClient::Callbacks cb;
        cb.on_state = [this](bool up) {
          Event e(Event::State);
          e.connected = up;
          post(std::move(e));
        };
        cb.on_error = [this](const std::string &what) {
          Event e(Event::Warning);
          e.data = "NATS: " + what;
          post(std::move(e));
        };
        client = std::make_unique<NatsClient>(opts_, "edgekeyd", std::move(cb));
        Event e(Event::State);
        e.connected = true;
        post(std::move(e));
      } catch (const std::exception &e) {
        fail(e.what());
        wait_for(opts_.reconnect_wait);
        continue;
      }
    }
    if (!sub_ && !subscribe(*client)) {
      wait_for(opts_.reconnect_wait);
      continue;
    }
    if (poll_stream(*client, polls++ % 5 == 0)) {
      Event e(Event::Contact);
      e.at = int64_t(time(nullptr));
      post(std::move(e));
    }
    wait_for(opts_.heartbeat);
  }
  // The connection goes first: unsubscribing on a live one deletes the
  // consumer and waits up to the JetStream wait (30 s) for the answer, which
  // never comes while the region is unreachable; on a closed connection it
  // returns at once and the server drops the ephemeral consumer itself.
  client.reset();
  unsubscribe();
}

bool NatsSource::subscribe(NatsClient &c) {
  StreamState st;
  try {
    st = region_stream_state(c, opts_);
  } catch (const std::exception &e) {
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
  auto ctx = std::make_unique<SubContext>();
  ctx->source = this;
  ctx->epoch = ++epoch_;  // the loop drops what older subscriptions queued
  ctx->prefix = "$KV." + opts_.bucket + ".";
  if (resume > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = resume + 1;
    if (st.last_seq <= resume) post(Event(Event::CaughtUp, ctx->epoch, resume));
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;  // see the header
    post(Event(Event::SnapshotBegin, ctx->epoch));
    if (st.messages == 0) {
      post(Event(Event::SnapshotEnd, ctx->epoch, st.last_seq));
    } else {
      ctx->gather = std::make_unique<SnapshotGather>(applier_.resolver(), size_t(st.messages));
      ctx->spent.reserve(kSpentBatch);
    }
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
  if (s == NATS_OK) s = js_Subscribe(&sub_, js, subject.c_str(), &NatsSource::on_message, ctx.get(), nullptr, &so, &err);
  if (js) jsCtx_Destroy(js);  // the subscription holds its own reference
  if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(sub_, &NatsSource::on_complete, ctx.get());
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
  if (closing) {
    std::unique_lock<std::mutex> lock(sub_ctx_->mu);
    sub_ctx_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return sub_ctx_->complete; });
  }
  natsSubscription_Destroy(sub_);
  sub_ = nullptr;
  std::unique_lock<std::mutex> lock(sub_ctx_->mu);
  const bool complete = sub_ctx_->complete;
  lock.unlock();
  if (complete) sub_ctx_.reset();
  else (void)sub_ctx_.release();  // libnats may still call back with it: never free it
}

bool NatsSource::poll_stream(NatsClient &c, bool report_failure) {
  // Read ours first: the stream held at least this much before the request,
  // so a smaller last sequence in the answer means a new stream.
  const uint64_t ours = applied_seq_.load();
  StreamState st;
  try {
    st = region_stream_state(c, opts_);
  } catch (const std::exception &e) {
    if (report_failure) fail(e.what());  // every 5th poll: the same text is logged once a minute anyway
    return false;
  }
  if (st.no_quorum) {
    Event e(Event::NoContact);
    e.data = "stream " + opts_.stream + " in domain \"" + opts_.domain + "\" has no quorum in its cluster (" +
             c.servers() + "): no leader, or one cut off from its peers; it takes nothing from the origin " +
             "meanwhile, so there is no contact until it has (check the region's nats-servers)";
    post(std::move(e));
    return false;
  }
  Event e(Event::StreamInfo);
  e.seq = st.last_seq;
  e.lag = st.mirror_lag;
  e.active_ms = st.mirror_active_ms;
  post(std::move(e));
  const bool recreated = (stream_created_ != 0 && st.created_ns != stream_created_) || st.last_seq < ours;
  if (recreated && !(st.is_mirror && st.mirror_lag > 0)) {
    note("stream " + opts_.stream + " was recreated (last sequence " + std::to_string(st.last_seq) +
         ", ours " + std::to_string(ours) + "): resynchronising from a full snapshot");
    unsubscribe();
    force_cold_ = true;
  }
  return true;
}

// ---- libnats delivery thread ------------------------------------------------

void NatsSource::on_message(natsConnection *, natsSubscription *, natsMsg *msg, void *closure) {
  auto *ctx = static_cast<SubContext *>(closure);
  const Delivery d = read_delivery(msg, ctx->prefix);
  Event e(Event::Message, ctx->epoch, d.seq);
  e.pending = d.pending;
  e.removal = d.removal;
  e.key.assign(d.key);
  if (!e.removal) {
    Result<KeyRecord> r = decode_record_json(d.data);
    if (!r.ok()) e.data = std::move(r.error);
    else if (r.value->id != e.key) e.data = "it carries id " + quote_for_error(r.value->id);
    else e.record = std::move(r.value);
  }
  // `d` views the message: not used past here.
  if (!ctx->gather) {
    natsMsg_Destroy(msg);
  } else {
    ctx->spent.push_back(msg);
    if (ctx->spent.size() >= kSpentBatch) ctx->destroy_spent();
  }
  if (e.seq == 0) return;  // not a JetStream message: nothing to apply
  if (ctx->gather) ctx->source->fold_into_snapshot(*ctx, std::move(e));
  else ctx->source->post(std::move(e));
}

void NatsSource::fold_into_snapshot(SubContext &ctx, Event e) {
  // What the live table needs at once goes to the loop too: a removal, a
  // revocation, and a rejected record (logged there; an earlier version of
  // the key, if any, stays in the snapshot).
  const bool to_loop = e.removal || !e.record || e.record->status == KeyStatus::Revoked;
  if (e.removal) ctx.gather->remove(e.key);
  else if (e.record) ctx.gather->put(to_loop ? KeyRecord(*e.record) : std::move(*e.record));
  if (!to_loop) ++ctx.folded;
  const uint64_t pending = e.pending, seq = e.seq;
  if (to_loop) post(std::move(e));
  if (pending != 0) return;

  // The whole snapshot is here, resolved and indexed as it came: the loop
  // only builds the table generation from it.
  const auto started = std::chrono::steady_clock::now();
  Event end(Event::SnapshotEnd, ctx.epoch, seq);
  end.prepared = std::make_unique<PreparedLoad>(ctx.gather->finish());
  end.prepare_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  end.messages = ctx.folded;
  ctx.gather.reset();
  ctx.destroy_spent();
  post(std::move(end));
}

void NatsSource::SubContext::destroy_spent() {
  for (natsMsg *m : spent) natsMsg_Destroy(m);
  spent.clear();
}

void NatsSource::on_complete(void *closure) {
  auto *ctx = static_cast<SubContext *>(closure);
  std::lock_guard<std::mutex> lock(ctx->mu);
  ctx->complete = true;
  ctx->cv.notify_all();
}

// ---- loop thread --------------------------------------------------------------

void NatsSource::on_async(uv_async_t *a) {
  if (auto *self = static_cast<NatsSource *>(a->data)) self->drain();
}

void NatsSource::drain() {
  std::deque<Event> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(queue_);
  }
  changed_ = false;
  bool heard = false;  // any stream traffic is contact with the upstream too
  for (auto &e : batch) {
    apply(e);
    heard |= e.kind == Event::Message || e.kind == Event::CaughtUp || e.kind == Event::SnapshotEnd;
  }
  if (heard) {
    status_.last_contact = int64_t(time(nullptr));
    applier_.contact(status_.last_contact);
  }
  if (changed_ && on_change) on_change();
}

void NatsSource::apply(Event &e) {
  switch (e.kind) {
    case Event::Contact:
      status_.last_contact = e.at;
      applier_.contact(e.at);
      return;
    case Event::State:
      if (e.connected == status_.connected) return;
      status_.connected = e.connected;
      if (e.connected && status_.last_contact) ++status_.reconnects;
      log_(e.connected ? Level::Info : Level::Warn,
           e.connected ? "connected to NATS (" + identity() + ")" : "disconnected from NATS; reconnecting");
      return;
    case Event::StreamInfo:
      status_.stream_last_seq = e.seq;
      status_.origin_lag = e.lag;
      status_.origin_active_ms = e.active_ms;
      return;
    case Event::Note:
      log_(Level::Info, e.data);
      return;
    case Event::NoContact:
      status_.last_error = e.data;
      [[fallthrough]];  // logged as a warning
    case Event::Warning:
    case Event::Failed: {
      // The same failure repeats every retry: log each text once a minute.
      const int64_t now = int64_t(time(nullptr));
      auto [it, fresh] = error_logged_.try_emplace(e.data, now);
      if (fresh || now - it->second >= 60) {
        it->second = now;
        log_(e.kind == Event::NoContact ? Level::Warn : Level::Error, e.data);
      }
      if (error_logged_.size() > 64) error_logged_.clear();
      if (e.kind != Event::Failed) return;
      status_.last_error = e.data;
      if (!status_.synced && !failure_reported_) {
        failure_reported_ = true;
        if (on_synced) on_synced(false);
      }
      return;
    }
    default:
      break;
  }
  if (e.epoch != epoch_.load()) return;  // queued by a subscription since replaced
  switch (e.kind) {
    case Event::SnapshotBegin:
      snapshot_started_ = std::chrono::steady_clock::now();
      snapshot_mode_ = true;
      status_.snapshotting = true;
      return;
    case Event::SnapshotEnd:
      status_.messages += e.messages;
      if (snapshot_mode_) finish_snapshot(e);
      return;
    case Event::CaughtUp:
      synced();
      return;
    default:
      break;
  }

  // A message: a record put, or a removal of the KV key.
  ++status_.messages;
  std::optional<KeyRecord> record = std::move(e.record);
  if (!e.removal && !record) {
    ++status_.rejected;
    log_(Level::Warn, "upstream record " + quote_for_error(e.key) + " (stream sequence " + std::to_string(e.seq) +
                          ") rejected: " + e.data + "; its previous version, if any, stays");
  }
  if (snapshot_mode_) {  // the delivery thread keeps the snapshot; this is the live table, at once
    if (e.removal) {
      if (applier_.remove_id(e.key, applier_.revision())) changed_ = true;
    } else if (record && record->status == KeyStatus::Revoked) {
      if (applier_.upsert(*record, applier_.revision())) changed_ = true;
    }
    return;
  }
  if (e.removal) {
    applier_.remove_id(e.key, e.seq);
  } else if (record) {
    if (applier_.upsert(*record, e.seq) && record->origin_written_at && on_latency)
      on_latency(now_ms() - *record->origin_written_at);
  }
  applied_seq_ = std::max(applied_seq_.load(), e.seq);
  changed_ = true;
  if (e.pending == 0) synced();
}

void NatsSource::finish_snapshot(Event &e) {
  const uint64_t seq = e.seq;
  const auto streamed = std::chrono::steady_clock::now();
  if (e.prepared) applier_.load_prepared(std::move(*e.prepared), seq);
  else applier_.load({}, seq);  // an empty stream
  e.prepared.reset();
  const auto loaded = std::chrono::steady_clock::now();
  const size_t n = applier_.size();
  auto ms = [](auto d) { return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()); };
  applied_seq_ = seq;
  snapshot_mode_ = false;
  status_.snapshotting = false;
  ++status_.snapshots;
  changed_ = true;
  log_(Level::Info, "loaded a full snapshot of " + std::to_string(n) + " records from " + identity() +
                        " at sequence " + std::to_string(seq) + " (streamed in " + ms(streamed - snapshot_started_) +
                        " ms, resolved and indexed as it came, " + std::to_string(e.prepare_ms) +
                        " ms to finish after the last message; table built on the loop in " +
                        ms(loaded - streamed) + " ms)");
  synced();
}

void NatsSource::synced() {
  if (status_.synced) return;
  status_.synced = true;
  if (on_synced) on_synced(true);
}

}  // namespace edgekey::sync
