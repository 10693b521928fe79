// delivery_context.cpp -- see delivery_context.hpp.
#include "sync/upstream/nats/delivery_context.hpp"

#include "sync/record/record_json.hpp"
#include "sync/upstream/nats/js_delivery.hpp"

#include <optional>
#include <variant>

namespace edgekey::sync {

namespace {

constexpr size_t kSpentBatch = 256;  // see DeliveryContext::spent_

using Change = std::variant<nats_event::Put, nats_event::Removal, nats_event::Rejected>;

Change decode(const Delivery &d, uint64_t epoch) {
  std::string key(d.key);
  if (d.removal) return nats_event::Removal{epoch, d.seq, d.pending, std::move(key)};
  Expected<ValidRecord> r = decode_record_json(d.data);
  if (!r.ok()) return nats_event::Rejected{epoch, d.seq, d.pending, std::move(key), std::move(r.error)};
  if (r.value->record().id != key) {
    std::string why = "it carries id " + quote_for_error(r.value->record().id);
    return nats_event::Rejected{epoch, d.seq, d.pending, std::move(key), std::move(why)};
  }
  return nats_event::Put{epoch, d.seq, d.pending, std::move(*r.value)};
}

}  // namespace

DeliveryContext::DeliveryContext(nats_event::Queue &queue, uint64_t epoch, std::string prefix)
    : queue_(queue), epoch_(epoch), prefix_(std::move(prefix)) {}

DeliveryContext::~DeliveryContext() { destroy_spent(); }

void DeliveryContext::gather_snapshot(std::shared_ptr<const Resolver> resolver, size_t expected) {
  spent_.reserve(kSpentBatch);
  gather_ = std::make_unique<SnapshotGather>(std::move(resolver), expected);
}

// Nothing may unwind into libnats: a message that cannot be taken (no
// memory) marks the context lost (see lost()).
void DeliveryContext::on_message(natsConnection *, natsSubscription *, natsMsg *msg, void *closure) {
  auto &ctx = *static_cast<DeliveryContext *>(closure);
  if (ctx.lost_.load(std::memory_order_relaxed) != Lost::No) {
    natsMsg_Destroy(msg);
    return;
  }
  std::optional<Change> change;
  bool taken = true;
  try {
    const Delivery d = read_delivery(msg, ctx.prefix_);
    if (d.seq != 0) change = decode(d, ctx.epoch_);  // else not a JetStream message: nothing to apply
  } catch (const std::exception &) {
    taken = false;
  }
  ctx.dispose(msg);  // the Delivery viewed the message: not used past here
  if (taken && change) {
    try {
      std::visit([&ctx](auto &c) { ctx.deliver(std::move(c)); }, *change);
    } catch (const std::exception &) {
      taken = false;
    }
  }
  if (!taken) ctx.lost_.store(ctx.gather_ ? Lost::Snapshot : Lost::Message, std::memory_order_release);
}

// To the loop, or while a snapshot streams in, into it (the loop gets what
// cannot wait) until its last message.
template <class Kind>
void DeliveryContext::deliver(Kind c) {
  if (!gather_) {
    queue_.post(std::move(c));
    return;
  }
  const uint64_t seq = c.seq, pending = c.pending;
  if (fold(c)) queue_.post(std::move(c));
  if (pending == 0) finish_snapshot(seq);
}

// What the live table needs at once goes to the loop too: a removal, a
// revocation, and a rejected record (logged there; an earlier version of the
// key, if any, stays in the snapshot).
bool DeliveryContext::fold(nats_event::Put &p) {
  if (p.record.record().status == KeyStatus::Revoked) {
    gather_->put(ValidRecord(p.record));
    return true;
  }
  gather_->put(std::move(p.record));
  ++folded_;
  return false;
}

bool DeliveryContext::fold(nats_event::Removal &r) {
  gather_->remove(r.key);
  return true;
}

bool DeliveryContext::fold(nats_event::Rejected &) { return true; }

// The whole snapshot is here, resolved and indexed as it came: the loop only
// builds the table generation from it.
void DeliveryContext::finish_snapshot(uint64_t seq) {
  const auto started = std::chrono::steady_clock::now();
  auto prepared = std::make_unique<PreparedLoad>(gather_->finish());
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  queue_.post(nats_event::SnapshotEnd{
      .epoch = epoch_, .seq = seq, .prepared = std::move(prepared), .prepare_ms = ms, .folded = folded_});
  gather_.reset();  // after the post: a post that throws leaves the snapshot lost, not a live stream's message
  destroy_spent();
}

void DeliveryContext::dispose(natsMsg *msg) noexcept {
  if (!gather_ || spent_.size() == spent_.capacity()) {  // reserved: a push never allocates
    natsMsg_Destroy(msg);
    return;
  }
  spent_.push_back(msg);
  if (spent_.size() >= kSpentBatch) destroy_spent();
}

void DeliveryContext::destroy_spent() {
  for (natsMsg *m : spent_) natsMsg_Destroy(m);
  spent_.clear();
}

void DeliveryContext::on_complete(void *closure) {
  auto &ctx = *static_cast<DeliveryContext *>(closure);
  std::lock_guard<std::mutex> lock(ctx.mu_);
  ctx.complete_ = true;
  ctx.cv_.notify_all();
}

bool DeliveryContext::completed_within(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, d, [this] { return complete_; });
}

}  // namespace edgekey::sync
