// nats_streams.cpp -- see nats_streams.hpp.
#include "sync/nats/nats_streams.hpp"

namespace edgekey::sync {

namespace {

std::string origin_stream(const NatsOptions &o) { return "KV_" + o.bucket; }

}  // namespace

std::string init_origin(NatsClient &c, const NatsOptions &o) {
  kvConfig cfg;
  kvConfig_Init(&cfg);
  cfg.Bucket = o.bucket.c_str();
  cfg.History = 1;
  cfg.StorageType = js_FileStorage;
  cfg.Replicas = 1;
  kvStore *kv = nullptr;
  natsStatus s = js_KeyValue(&kv, c.origin(), o.bucket.c_str());
  if (s == NATS_OK) {
    kvStore_Destroy(kv);
    return "exists";
  }
  s = js_CreateKeyValue(&kv, c.origin(), &cfg);
  if (s != NATS_OK)
    throw NatsError("creating key-value bucket \"" + o.bucket + "\" in domain \"" + o.origin_domain +
                    "\" on " + c.servers() + ": " + nats_error_text(s) +
                    "; check that JetStream is enabled there and upstream.nats.origin_domain");
  kvStore_Destroy(kv);
  return "created";
}

std::string init_region(NatsClient &c, const NatsOptions &o) {
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

  jsStreamInfo *si = nullptr;
  jsErrCode err = jsErrCode(0);
  natsStatus s = js_GetStreamInfo(&si, c.region(), o.stream.c_str(), nullptr, &err);
  if (s == NATS_OK) {
    const bool ok = si->Config && si->Config->Mirror && si->Config->Mirror->Name &&
                    src == si->Config->Mirror->Name && si->Config->AllowRollup;
    jsStreamInfo_Destroy(si);
    if (!ok)
      throw NatsError("stream \"" + o.stream + "\" in domain \"" + o.domain +
                      "\" exists but is not a mirror of \"" + src +
                      "\" with AllowRollup; delete it (nats stream rm) and run init-region again");
    return "exists";
  }
  s = js_AddStream(&si, c.region(), &cfg, nullptr, &err);
  if (s != NATS_OK)
    throw NatsError("creating mirror stream \"" + o.stream + "\" in domain \"" + o.domain + "\" on " +
                    c.servers() + ": " + nats_error_text(s) +
                    "; check upstream.nats.domain and that JetStream runs there");
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
  jsStreamInfo_Destroy(si);
  return st;
}

}  // namespace edgekey::sync
