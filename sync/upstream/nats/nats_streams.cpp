// nats_streams.cpp -- see nats_streams.hpp.
#include "sync/upstream/nats/nats_streams.hpp"

namespace edgekey::sync {

namespace {

std::string origin_stream(const NatsOptions &o) { return "KV_" + o.bucket; }

}  // namespace

std::string init_origin(NatsClient &c, const NatsOptions &o) { return init_origin_bucket(c, o, o.bucket, ""); }

std::string init_origin_bucket(NatsClient &c, const NatsOptions &o, const std::string &bucket, const std::string &what,
                               int64_t ttl_s) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = bucket.c_str();
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = 1;
  cfg.TTL = ttl_s * 1000000000;  // libnats: nanoseconds (the stream's MaxAge)
  kvStore *kv = nullptr;
  natsStatus s = js_KeyValue(&kv, c.origin(), bucket.c_str());
  if (s == NATS_OK) {
    kvStore_Destroy(kv);
    return "exists";
  }
  s = js_CreateKeyValue(&kv, c.origin(), &cfg);
  if (s != NATS_OK)
    throw NatsError("creating key-value bucket \"" + bucket + "\"" + (what.empty() ? "" : " (" + what + ")") +
                    " in domain \"" + o.origin_domain + "\" on " + c.servers() + ": " + nats_error_text(s) +
                    "; check that JetStream is enabled there and upstream.nats.origin_domain");
  kvStore_Destroy(kv);
  return "created";
}

std::string init_region(NatsClient &c, const NatsOptions &o, int replicas) {
  if (o.domain.empty() || o.origin_domain.empty() || o.domain == o.origin_domain)
    throw NatsError("a region's mirror needs upstream.nats.domain (this region) and "
                    "upstream.nats.origin_domain (the origin) set and different; a host in the "
                    "origin's domain reads the bucket's own stream and needs no mirror");
  const std::string src = origin_stream(o);
  const std::string api = "$JS." + o.origin_domain + ".API";
  jsExternalStream ext{api.c_str(), ""};  // a NULL DeliverPrefix crashes libnats 3.4.1
  jsStreamSource mirror{};
  mirror.Name = src.c_str();
  mirror.External = &ext;
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = o.stream.c_str();
  cfg.Mirror = &mirror;
  cfg.Storage = js_FileStorage;
  cfg.MaxMsgsPerSubject = 1;
  cfg.AllowRollup = true;
  cfg.DenyDelete = true;
  cfg.AllowDirect = true;
  cfg.MirrorDirect = true;
  cfg.Replicas = replicas > 0 ? replicas : 1;

  jsStreamInfo *si = nullptr;
  jsErrCode err = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&si, c.region(), o.stream.c_str(), nullptr, &err);
  if (s == NATS_OK) {
    const bool ok = si->Config && si->Config->Mirror && si->Config->Mirror->Name &&
                    src == si->Config->Mirror->Name && si->Config->AllowRollup;
    if (!ok) {
      jsStreamInfo_Destroy(si);
      throw NatsError("stream \"" + o.stream + "\" in domain \"" + o.domain +
                      "\" exists but is not a mirror of \"" + src +
                      "\" with AllowRollup; delete it (nats stream rm) and run init-region again");
    }
    if (replicas == 0 || si->Config->Replicas == replicas) {
      jsStreamInfo_Destroy(si);
      return "exists";
    }
    // Our own settings (those the mirror was created with), scaled.
    const int64_t had = si->Config->Replicas;
    jsStreamInfo_Destroy(si);
    jsStreamInfo *updated = nullptr;
    s = js_UpdateStream(&updated, c.region(), &cfg, nullptr, &err);
    if (s != NATS_OK)
      throw NatsError("scaling mirror stream \"" + o.stream + "\" in domain \"" + o.domain + "\" from " +
                      std::to_string(had) + " to " + std::to_string(replicas) + " replicas: " + nats_error_text(s) +
                      "; the region's cluster needs at least that many JetStream servers");
    jsStreamInfo_Destroy(updated);
    return "updated";
  }
  s = js_AddStream(&si, c.region(), &cfg, nullptr, &err);
  if (s != NATS_OK)
    throw NatsError("creating mirror stream \"" + o.stream + "\" in domain \"" + o.domain + "\" (" +
                    std::to_string(cfg.Replicas) + " replicas) on " + c.servers() + ": " + nats_error_text(s) +
                    "; check upstream.nats.domain, that JetStream runs there, and that the region's cluster "
                    "has as many JetStream servers as replicas");
  jsStreamInfo_Destroy(si);
  return "created";
}

StreamState region_stream_state(NatsClient &c, const NatsOptions &o) {
  jsStreamInfo *si = nullptr;
  jsErrCode err = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&si, c.region(), o.stream.c_str(), nullptr, &err);
  if (s != NATS_OK) {
    std::string hint = err == JSStreamNotFoundErr
                           ? "; create it with `edgekeyctl nats init-region` (or init-origin in the origin's domain)"
                       : err != 0 ? "; check upstream.nats.domain and upstream.nats.stream"
                                  : "; no answer from " + c.servers() + " (is JetStream in that domain up?)";
    throw NatsError("stream \"" + o.stream + "\" in domain \"" + o.domain + "\": " + nats_error_text(s) + hint);
  }
  StreamState st;
  st.name = o.stream;
  st.messages = si->State.Msgs;
  st.first_seq = si->State.FirstSeq;
  st.last_seq = si->State.LastSeq;
  st.created_ns = si->Created;
  if (si->Mirror) {
    st.is_mirror = true;
    st.mirror_lag = si->Mirror->Lag;
    st.mirror_active_ms = si->Mirror->Active >= 0 ? si->Mirror->Active / 1'000'000 : -1;
  }
  // A single server lists no replicas. A cluster without a leader for the
  // stream answers (after a delay) naming none; a leader lists its
  // followers, each with the time since it last heard from it (raft
  // heartbeats are 1 s apart).
  if (si->Cluster && si->Cluster->ReplicasLen > 0) {
    constexpr int64_t kSilentNs = 5'000'000'000;
    const bool led = si->Cluster->Leader && *si->Cluster->Leader;
    int heard = led ? 1 : 0;
    for (int k = 0; k < si->Cluster->ReplicasLen; ++k) {
      const jsPeerInfo *p = si->Cluster->Replicas[k];
      heard += p && !p->Offline && p->Active >= 0 && p->Active < kSilentNs;
    }
    const int members = si->Cluster->ReplicasLen + (led ? 1 : 0);
    st.no_quorum = !led || heard < members / 2 + 1;
  }
  jsStreamInfo_Destroy(si);
  return st;
}

}  // namespace edgekey::sync
