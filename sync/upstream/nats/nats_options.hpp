// nats_options.hpp -- how to reach a NATS JetStream upstream: servers,
// domains, bucket, credentials, TLS and timing. Filled from edgekey.yaml's
// `upstream.nats` block (daemon/config checks every field); used by edgekeyd's
// source and by edgekeyctl. See NATS.md for the topology these name.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace edgekey::sync {

// Any non-empty field turns TLS on; cert and key are given together or not at all.
struct NatsTlsOptions {
  std::string ca;    // PEM file of trusted CAs
  std::string cert;  // PEM client certificate chain
  std::string key;   // PEM private key of `cert`
  bool enabled() const { return !ca.empty() || !cert.empty() || !key.empty(); }
};

// Authentication is one of: nothing, `credentials` (a .creds file), or
// `user` with exactly one of `password` / `password_file`.
struct NatsOptions {
  std::vector<std::string> servers;  // nats://host[:port] or tls://host[:port], at least one
  std::string origin_domain;         // JetStream domain of the origin bucket; "" = none
  std::string domain;                // this region's JetStream domain; "" = none
  std::string bucket = "keys";       // the origin's KV bucket
  std::string stream;                // this region's stream: the mirror, default "KV_<bucket>"
  std::string credentials;
  std::string user;
  std::string password;
  std::string password_file;
  NatsTlsOptions tls;
  std::chrono::milliseconds reconnect_wait{1000};
  int max_reconnect = -1;            // -1 = reconnect forever
  std::chrono::milliseconds heartbeat{1000};        // consumer idle heartbeat and contact probe
  std::chrono::milliseconds request_timeout{2000};  // connect and each JetStream API request
  // Keys' last use across regions (sync/upstream/nats/usage_bucket.hpp): the origin's
  // bucket, and how often edgekeyd publishes a key's use at most (0 = never).
  std::string usage_bucket = "usage";
  std::chrono::milliseconds usage_interval{10000};
};

}  // namespace edgekey::sync
