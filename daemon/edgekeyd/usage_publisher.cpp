// usage_publisher.cpp -- see usage_publisher.hpp.
#include "daemon/edgekeyd/usage_publisher.hpp"

#include "daemon/config/duration.hpp"
#include "sync/upstream/failure_text.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace edgekey::daemon {

namespace {

using Clock = std::chrono::steady_clock;

std::string domain_text(const std::string &d) { return d.empty() ? "the default domain" : "domain \"" + d + "\""; }

}  // namespace

UsagePublisher::UsagePublisher(Options o, Report report) : opts_(std::move(o)), report_(std::move(report)) {
  thread_ = std::thread([this] { run(); });
}

UsagePublisher::~UsagePublisher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void UsagePublisher::offer(std::vector<sync::UsageEntry> entries) {
  if (entries.empty()) return;
  std::vector<Item> items;
  items.reserve(entries.size());
  uint64_t unsafe = 0;
  for (const auto &e : entries) {
    if (!sync::usage_key_safe(e.id)) {  // no KV entry can name it (a file upstream's id)
      ++unsafe;
      continue;
    }
    items.push_back({sync::usage_entry_key(e), sync::encode_usage_value(e)});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.dropped += unsafe;
    for (auto &it : items) {
      auto at = pending_.find(it.key);
      if (at != pending_.end()) {
        at->second.value = std::move(it.value);
      } else if (pending_.size() < opts_.max_pending) {
        std::string key = it.key;
        pending_.emplace(std::move(key), std::move(it));
      } else {
        ++stats_.dropped;
      }
    }
    stats_.waiting = pending_.size();
  }
  cv_.notify_all();
}

UsagePublisher::Stats UsagePublisher::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// Under mu_: the waiting values whose key was not put within the interval
// (at most a batch); next_due is when the earliest held one may go.
std::vector<UsagePublisher::Item> UsagePublisher::take_due(Clock::time_point now, Clock::time_point &next_due) {
  std::vector<Item> batch;
  next_due = Clock::time_point::max();
  for (auto it = pending_.begin(); it != pending_.end() && batch.size() < opts_.batch;) {
    auto sent = sent_.find(it->first);
    if (sent != sent_.end() && sent->second + opts_.interval > now) {
      next_due = std::min(next_due, sent->second + opts_.interval);
      ++it;
      continue;
    }
    batch.push_back(std::move(it->second));
    it = pending_.erase(it);
  }
  if (batch.size() == opts_.batch) next_due = now;  // more may be due
  // Puts older than the interval hold nothing back any more.
  if (sent_.size() > 2 * pending_.size() + 1024)
    std::erase_if(sent_, [&](const auto &s) { return s.second + opts_.interval <= now; });
  stats_.waiting = pending_.size();
  return batch;
}

void UsagePublisher::run() {
  std::string problem;
  connect(problem);  // early, so that the first use is put at once
  if (!problem.empty()) set_state(problem);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    Clock::time_point next_due;
    std::vector<Item> batch = take_due(Clock::now(), next_due);
    if (batch.empty()) {
      if (next_due == Clock::time_point::max()) cv_.wait(lock);
      else cv_.wait_until(lock, next_due);
      continue;
    }
    lock.unlock();
    std::vector<bool> ok(batch.size(), false);
    try {
      problem = send(batch, ok);
    } catch (const std::exception &e) {  // no memory: the batch goes back to wait, as a failed put does
      problem = "not publishing keys' last use: " + sync::failure_text(e) + "; tried again";
    }
    const Clock::time_point done = Clock::now();
    lock.lock();
    if (stop_) break;  // cut short: not a failure to report
    uint64_t good = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      if (ok[i]) {
        sent_[batch[i].key] = done;
        ++good;
      } else if (!pending_.count(batch[i].key)) {  // a newer value offered meanwhile wins
        std::string key = batch[i].key;
        pending_.emplace(std::move(key), std::move(batch[i]));
      }
    }
    stats_.published += good;
    stats_.failed += batch.size() - good;
    stats_.waiting = pending_.size();
    lock.unlock();
    set_state(problem);
    lock.lock();
    if (!problem.empty()) cv_.wait_for(lock, std::max<std::chrono::milliseconds>(opts_.interval, std::chrono::milliseconds(100)),
                                       [&] { return stop_.load(); });
  }
  lock.unlock();
  disconnect();
}

bool UsagePublisher::connect(std::string &problem) {
  if (client_ && natsConnection_IsClosed(client_->connection())) disconnect();  // gave up reconnecting
  if (client_) return true;
  try {
    client_ = std::make_unique<sync::NatsClient>(opts_.nats, "edgekeyd-usage");
  } catch (const std::exception &e) {
    problem = std::string("cannot connect: ") + e.what();
    return false;
  }
  natsInbox *inbox = nullptr;
  natsStatus s = natsInbox_Create(&inbox);
  if (s == NATS_OK) {
    inbox_ = reinterpret_cast<const char *>(inbox);
    natsInbox_Destroy(inbox);
    s = natsConnection_SubscribeSync(&acks_, client_->connection(), (inbox_ + ".*").c_str());
  }
  if (s != NATS_OK) {
    problem = "cannot subscribe to its acknowledgements: " + sync::nats_error_text(s);
    disconnect();
    return false;
  }
  return true;
}

void UsagePublisher::disconnect() {
  if (acks_) {
    natsSubscription_Unsubscribe(acks_);
    natsSubscription_Destroy(acks_);
    acks_ = nullptr;
  }
  client_.reset();
}

// Pipelined: every put is published with its own reply subject, then the
// acknowledgements are read until each has one or request_timeout passed.
std::string UsagePublisher::send(const std::vector<Item> &batch, std::vector<bool> &ok) {
  std::string problem;
  if (!connect(problem)) return problem;
  natsConnection *nc = client_->connection();
  const uint64_t base = next_seq_;
  next_seq_ += batch.size();
  size_t sent = 0;
  for (; sent < batch.size(); ++sent) {
    const std::string reply = inbox_ + "." + std::to_string(base + sent);
    const natsStatus s =
        natsConnection_PublishRequest(nc, sync::usage_put_subject(opts_.nats, batch[sent].key).c_str(), reply.c_str(),
                                      batch[sent].value.data(), int(batch[sent].value.size()));
    if (s != NATS_OK) {
      problem = std::string("cannot publish: ") + natsStatus_GetText(s);
      break;
    }
  }
  size_t answered = 0;
  std::string refused;
  const Clock::time_point deadline = Clock::now() + opts_.nats.request_timeout;
  while (answered < sent && !stop_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    natsMsg *m = nullptr;
    if (natsSubscription_NextMsg(&m, acks_, std::min<int64_t>(left, 50)) != NATS_OK) continue;
    const std::string subject = natsMsg_GetSubject(m);
    const size_t dot = subject.rfind('.');
    uint64_t seq = 0;
    bool mine = dot != std::string::npos;
    try {
      seq = mine ? std::stoull(subject.substr(dot + 1)) : 0;
    } catch (const std::exception &) {
      mine = false;
    }
    if (mine && seq >= base && seq < base + sent && !ok[seq - base]) {
      ++answered;
      if (natsMsg_IsNoResponders(m)) {
        refused = "no responders";
      } else {
        const auto j = nlohmann::json::parse(std::string_view(natsMsg_GetData(m), size_t(natsMsg_GetDataLength(m))),
                                             nullptr, false);
        if (j.is_object() && j.contains("seq") && !j.contains("error"))
          ok[seq - base] = true;
        else
          refused = j.is_object() && j.contains("error") ? j["error"].value("description", std::string("an error"))
                                                          : std::string("an answer that is not an acknowledgement");
      }
    }
    natsMsg_Destroy(m);
  }
  if (!problem.empty()) return diagnose(problem);
  if (!refused.empty()) return diagnose("the origin refused puts (" + refused + ")");
  if (answered < sent) return diagnose("no acknowledgement within " + format_duration(opts_.nats.request_timeout));
  return "";
}

// What the failures `seen` mean: the bucket missing, or the origin not answering.
std::string UsagePublisher::diagnose(const std::string &seen) {
  if (!client_ || stop_) return seen;
  jsStreamInfo *si = nullptr;
  jsErrCode err = jsErrCode(0);
  const natsStatus s = js_GetStreamInfo(&si, client_->origin(), ("KV_" + opts_.nats.usage_bucket).c_str(), nullptr,
                                        &err);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    return seen;
  }
  if (s == NATS_NOT_FOUND || err == JSStreamNotFoundErr)
    return "the bucket does not exist: create it with `edgekeyctl nats init-origin` (or check "
           "upstream.nats.usage_bucket and upstream.nats.origin_domain)";
  return "the origin does not answer through " + client_->servers() + " (" + natsStatus_GetText(s) +
         "): check its nats-server and this region's leafnode link";
}

void UsagePublisher::set_state(const std::string &problem) {
  if (problem == state_) return;
  const bool was_failing = !state_.empty();
  state_ = problem;
  const std::string where = "keys' last use to bucket \"" + opts_.nats.usage_bucket + "\" in " +
                            domain_text(opts_.nats.origin_domain);
  if (!problem.empty())
    report_(true, "not publishing " + where + ": " + problem + "; each key's latest use waits and is tried again every " +
                      format_duration(std::max<std::chrono::milliseconds>(opts_.interval, std::chrono::milliseconds(100))));
  else if (was_failing)
    report_(false, "publishing " + where + " again");
}

}  // namespace edgekey::daemon
