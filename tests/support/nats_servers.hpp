// nats_servers.hpp -- real nats-server processes for tests (NATS.md's
// topology): an origin hub with JetStream domain "eu" and leaf regions with
// their own domains, all on 127.0.0.1, each with its own store directory,
// started by the fixture and stopped by pid. A region is one server, or a
// JetStream cluster of several (cluster routes between them, each node a
// leafnode of the hub, the mirror replicated on every node). Ports are
// reserved (test_ports.hpp) when a server is made and kept across restarts,
// so clients and cluster peers reconnect to a restarted server.
// No test framework needed: the benchmarks (bench/) use it too.
#pragma once

#include "sync/upstream/nats/nats_client.hpp"
#include "sync/upstream/nats/nats_options.hpp"
#include "test_ports.hpp"

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace edgekey::test {

// A fresh directory under /tmp, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  const std::string &path() const { return path_; }

 private:
  std::string path_;
};

// TLS on a server's client port (not its leafnode link): its certificate
// and key (PEM), and with `verify` clients must present a certificate
// signed by `ca`.
struct NatsServerTls {
  std::string cert, key, ca;
  bool verify = false;
};

class NatsServer {
 public:
  // A hub: `hub_leaf_port` = 0 gives it a leafnode listener on a port of its own.
  // A leaf: `hub_leaf_port` is the hub's leafnode port to connect to.
  NatsServer(const std::string &dir, std::string name, std::string domain, int hub_leaf_port);
  ~NatsServer();  // SIGKILL if still running
  NatsServer(const NatsServer &) = delete;
  NatsServer &operator=(const NatsServer &) = delete;

  // Starts the process and waits until it accepts clients. False (with the
  // log in *why) if it exited or did not listen within 10 s.
  bool start(std::string *why = nullptr);
  // Before start(): clients must connect with TLS (url() becomes tls://).
  void require_tls(const NatsServerTls &tls);
  // Before start(): `nodes` form JetStream cluster `name` (each routes to
  // the others); they must share a domain.
  static void form_cluster(const std::string &name, const std::vector<NatsServer *> &nodes);
  // Before start(): an HTTP monitoring listener (healthz, jsz, connz).
  void enable_monitoring();
  // GET `path` ("/healthz") of the monitoring listener: the body of a 2xx
  // answer, nullopt for anything else (not running, error status).
  std::optional<std::string> monitor(const std::string &path) const;
  // The names of the clients connected to this server (connz; needs monitoring).
  std::vector<std::string> client_names() const;
  bool tls() const { return tls_; }
  void kill_hard();  // SIGKILL and reap
  void stop();       // SIGTERM and reap
  bool running() const { return pid_ > 0; }

  std::string url() const { return (tls_ ? "tls://127.0.0.1:" : "nats://127.0.0.1:") + std::to_string(port_.port()); }
  int leaf_port() const { return leaf_port_ ? leaf_port_->port() : 0; }
  const std::string &domain() const { return domain_; }
  const std::string &name() const { return name_; }  // its server_name
  std::string log() const;

 private:
  std::string dir_, name_, domain_;
  std::string log_path_;  // in EDGEKEY_TEST_LOG_DIR when set (tests/logscan), else in dir_
  ReservedPort port_;
  std::optional<ReservedPort> leaf_port_;  // a hub's
  std::optional<ReservedPort> cluster_port_, http_port_;
  int hub_leaf_port_ = 0;                  // a leaf's
  pid_t pid_ = -1;
  bool tls_ = false;
};

// The origin hub ("eu") and leaf regions ("in", "us", ...), their buckets
// and mirrors created with sync::init_origin / init_region (and, when asked,
// the origin's usage bucket with sync::init_usage_bucket).
class NatsTopology {
 public:
  // `nodes` > 1: each region is a JetStream cluster of that many servers
  // ("<region>-leaf1", "-leaf2", ...; cluster name = the region), with
  // monitoring, its mirror replicated on all of them.
  explicit NatsTopology(std::vector<std::string> regions = {"in"}, size_t nodes = 1);
  // Starts every server and creates the bucket and each region's mirror;
  // false (with a reason) when something did not come up. A clustered
  // region is waited for until every node's /healthz is ok (meta leader
  // elected, the mirror's replicas current).
  bool start(std::string *why);
  // Set before start(): start() also creates the origin's usage bucket
  // (keys' last use), as `edgekeyctl nats init-origin` does. Off by default:
  // tests of a missing usage bucket, or of init-origin creating it, need it absent.
  bool usage_bucket = false;

  NatsServer &hub() { return *hub_; }
  NatsServer &region(size_t i) { return *regions_[i].front(); }  // its first node
  NatsServer &node(size_t region, size_t k) { return *regions_[region][k]; }
  size_t regions() const { return regions_.size(); }
  size_t nodes() const { return regions_.front().size(); }

  // Options for a client of `server` reading region `domain` ("eu" = the hub).
  sync::NatsOptions options(const NatsServer &server) const;
  // Options listing every node of region `i`, in the given order of nodes.
  sync::NatsOptions region_options(size_t i, const std::vector<size_t> &order = {}) const;
  // The origin's options (connect to the hub, domain eu).
  sync::NatsOptions origin_options() const { return options(*hub_); }
  // An `upstream:` YAML block for edgekeyd following `server`'s region
  // (with client_tls as its `tls:` block when the server requires TLS).
  std::string upstream_yaml(const NatsServer &server) const;
  // The same with `tls` as its `tls:` block (none when empty).
  std::string upstream_yaml(const NatsServer &server, const sync::NatsTlsOptions &tls) const;
  // An `upstream:` block listing every node of region `i` (as region_options).
  std::string region_upstream_yaml(size_t i, const std::vector<size_t> &order = {}) const;
  // The JetStream cluster state of region `i`'s mirror, asked of `server`:
  // its leader's server_name ("" when it has none) and how many replicas
  // (followers) are current. Nullopt when the server does not answer.
  struct MirrorCluster {
    std::string leader;
    int current_followers = 0;
  };
  std::optional<MirrorCluster> mirror_cluster(const NatsServer &server) const;

  // The client side of servers that require TLS (the CA that signed their
  // certificates, and a client certificate if they verify it): options()
  // and upstream_yaml() of such a server use it.
  sync::NatsTlsOptions client_tls;

  const ScratchDir &dir() const { return dir_; }

 private:
  ScratchDir dir_;
  std::unique_ptr<NatsServer> hub_;
  std::vector<std::vector<std::unique_ptr<NatsServer>>> regions_;  // each region's nodes
};

}  // namespace edgekey::test
