// nats_servers.cpp -- see nats_servers.hpp.
#include "nats_servers.hpp"

#include "spawn.hpp"

#include "sync/upstream/nats/nats_streams.hpp"
#include "sync/upstream/nats/usage_bucket.hpp"
#include "tests/logscan/test_log_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace edgekey::test {

namespace {

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback_address(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// HTTP/1.0 GET of 127.0.0.1:`port` `path`: the status and body; status 0
// when it cannot connect or no answer comes within 5 s.
std::pair<int, std::string> http_get(int port, const std::string &path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return {0, ""};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a = loopback_address(port);
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == ssize_t(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) text.append(buf, size_t(n));
    }
  }
  ::close(fd);
  int status = 0;
  if (text.rfind("HTTP/1.", 0) == 0 && text.size() > 12) status = std::atoi(text.c_str() + 9);
  const size_t body = text.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : text.substr(body + 4)};
}

}  // namespace

ScratchDir::ScratchDir() {
  char tmpl[] = "/tmp/eknats.XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp /tmp/eknats.XXXXXX failed");
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

NatsServer::NatsServer(const std::string &dir, std::string name, std::string domain, int hub_leaf_port)
    : dir_(dir), name_(std::move(name)), domain_(std::move(domain)), hub_leaf_port_(hub_leaf_port) {
  log_path_ = log_path_or("nats-server-" + name_, dir_ + "/" + name_ + ".log");
  if (hub_leaf_port_ == 0) leaf_port_.emplace();
  std::ofstream conf(dir_ + "/" + name_ + ".conf");
  conf << "server_name: " << name_ << "\n"
       << "listen: 127.0.0.1:" << port_.port() << "\n"
       << "jetstream { domain: " << domain_ << ", store_dir: \"" << dir_ << "/" << name_ << "-js\" }\n";
  if (hub_leaf_port_ == 0)
    conf << "leafnodes { listen: 127.0.0.1:" << leaf_port_->port() << " }\n";
  else
    conf << "leafnodes { remotes: [ { url: \"nats-leaf://127.0.0.1:" << hub_leaf_port_ << "\" } ] }\n";
}

NatsServer::~NatsServer() { kill_hard(); }

void NatsServer::require_tls(const NatsServerTls &t) {
  std::ofstream conf(dir_ + "/" + name_ + ".conf", std::ios::app);
  // timeout: the handshake's, 5 s rather than 0.5 s on a loaded machine.
  conf << "tls {\n  cert_file: \"" << t.cert << "\"\n  key_file: \"" << t.key << "\"\n";
  if (!t.ca.empty()) conf << "  ca_file: \"" << t.ca << "\"\n";
  conf << "  verify: " << (t.verify ? "true" : "false") << "\n  timeout: 5\n}\n";
  tls_ = true;
}

void NatsServer::form_cluster(const std::string &name, const std::vector<NatsServer *> &nodes) {
  for (NatsServer *n : nodes)
    if (!n->cluster_port_) n->cluster_port_.emplace();
  for (NatsServer *n : nodes) {
    std::ofstream conf(n->dir_ + "/" + n->name_ + ".conf", std::ios::app);
    conf << "cluster {\n  name: " << name << "\n  listen: 127.0.0.1:" << n->cluster_port_->port() << "\n  routes: [\n";
    for (NatsServer *peer : nodes)
      if (peer != n) conf << "    \"nats-route://127.0.0.1:" << peer->cluster_port_->port() << "\"\n";
    conf << "  ]\n}\n";
  }
}

void NatsServer::enable_monitoring() {
  if (http_port_) return;
  http_port_.emplace();
  std::ofstream conf(dir_ + "/" + name_ + ".conf", std::ios::app);
  conf << "http: 127.0.0.1:" << http_port_->port() << "\n";
}

std::optional<std::string> NatsServer::monitor(const std::string &path) const {
  if (!http_port_ || pid_ <= 0) return std::nullopt;
  auto [status, body] = http_get(http_port_->port(), path);
  if (status < 200 || status > 299) return std::nullopt;
  return body;
}

std::vector<std::string> NatsServer::client_names() const {
  // connz is JSON; the names are the only "name" fields of its connections.
  std::vector<std::string> names;
  const auto body = monitor("/connz?limit=1024");
  if (!body) return names;
  const std::string key = "\"name\": \"";
  for (size_t at = body->find(key); at != std::string::npos; at = body->find(key, at)) {
    at += key.size();
    const size_t end = body->find('"', at);
    if (end == std::string::npos) break;
    names.push_back(body->substr(at, end - at));
  }
  return names;
}

bool NatsServer::start(std::string *why) {
  if (pid_ > 0) return true;
  const std::string conf = dir_ + "/" + name_ + ".conf";
  SpawnOptions o;
  o.log_path = log_path_;
  pid_ = spawn({"nats-server", "-c", conf}, o);
  if (pid_ < 0) {
    if (why) *why = "cannot start nats-server " + name_ + " (log " + log_path_ + "): " + std::strerror(errno);
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (why) *why = "nats-server " + name_ + " exited; log:\n" + log();
      return false;
    }
    if (accepts(port_.port())) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling the condition
  }
  if (why) *why = "nats-server " + name_ + " did not listen on " + url() + " in 10 s; log:\n" + log();
  return false;
}

void NatsServer::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void NatsServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string NatsServer::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

NatsTopology::NatsTopology(std::vector<std::string> regions, size_t nodes) {
  hub_ = std::make_unique<NatsServer>(dir_.path(), "eu-hub", "eu", 0);
  for (const auto &r : regions) {
    auto &region = regions_.emplace_back();
    if (nodes <= 1) {
      region.push_back(std::make_unique<NatsServer>(dir_.path(), r + "-leaf", r, hub_->leaf_port()));
      continue;
    }
    std::vector<NatsServer *> cluster;
    for (size_t k = 0; k < nodes; ++k) {
      region.push_back(
          std::make_unique<NatsServer>(dir_.path(), r + "-leaf" + std::to_string(k + 1), r, hub_->leaf_port()));
      region.back()->enable_monitoring();
      cluster.push_back(region.back().get());
    }
    NatsServer::form_cluster(r, cluster);
  }
}

sync::NatsOptions NatsTopology::region_options(size_t i, const std::vector<size_t> &order) const {
  sync::NatsOptions o = options(*regions_[i].front());
  o.servers.clear();
  for (size_t k = 0; k < regions_[i].size(); ++k)
    o.servers.push_back(regions_[i][order.empty() ? k : order.at(k)]->url());
  return o;
}

std::string NatsTopology::region_upstream_yaml(size_t i, const std::vector<size_t> &order) const {
  std::string y = upstream_yaml(*regions_[i].front());
  const size_t open = y.find('['), close = y.find(']');
  std::string list;
  for (const auto &url : region_options(i, order).servers) list += (list.empty() ? "" : ", ") + url;
  return y.replace(open + 1, close - open - 1, list);
}

std::optional<NatsTopology::MirrorCluster> NatsTopology::mirror_cluster(const NatsServer &server) const {
  try {
    sync::NatsOptions o = options(server);
    o.max_reconnect = 0;
    sync::NatsClient c(o, "edgekey-test-probe");
    jsStreamInfo *si = nullptr;
    jsErrCode err = jsErrCode(0);
    if (js_GetStreamInfo(&si, c.region(), o.stream.c_str(), nullptr, &err) != NATS_OK) return std::nullopt;
    MirrorCluster m;
    if (si->Cluster) {
      if (si->Cluster->Leader) m.leader = si->Cluster->Leader;
      for (int k = 0; k < si->Cluster->ReplicasLen; ++k)
        m.current_followers += si->Cluster->Replicas[k]->Current && !si->Cluster->Replicas[k]->Offline;
    }
    jsStreamInfo_Destroy(si);
    return m;
  } catch (const std::exception &) {
    return std::nullopt;
  }
}

sync::NatsOptions NatsTopology::options(const NatsServer &server) const {
  sync::NatsOptions o;
  o.servers = {server.url()};
  o.origin_domain = "eu";
  o.domain = server.domain();
  o.bucket = "keys";
  o.stream = "KV_keys";
  o.reconnect_wait = std::chrono::milliseconds(100);
  o.heartbeat = std::chrono::milliseconds(500);
  o.request_timeout = std::chrono::milliseconds(2000);
  if (server.tls()) o.tls = client_tls;
  return o;
}

std::string NatsTopology::upstream_yaml(const NatsServer &server) const {
  return upstream_yaml(server, server.tls() ? client_tls : sync::NatsTlsOptions{});
}

std::string NatsTopology::upstream_yaml(const NatsServer &server, const sync::NatsTlsOptions &tls) const {
  std::string y = "upstream:\n  nats:\n    servers: [" + server.url() +
                  "]\n    origin_domain: eu\n    domain: " + server.domain() +
                  "\n    bucket: keys\n    reconnect_wait: 100ms\n    heartbeat: 500ms\n    request_timeout: 2s\n";
  if (tls.enabled()) {
    y += "    tls:\n";
    if (!tls.ca.empty()) y += "      ca: " + tls.ca + "\n";
    if (!tls.cert.empty()) y += "      cert: " + tls.cert + "\n";
    if (!tls.key.empty()) y += "      key: " + tls.key + "\n";
  }
  return y;
}

bool NatsTopology::start(std::string *why) {
  if (!hub_->start(why)) return false;
  for (auto &r : regions_)
    for (auto &n : r)
      if (!n->start(why)) return false;
  // JetStream and the leafnode links come up after the client port (and a
  // cluster elects its meta leader some seconds later): retry the set-up
  // until it goes through (bounded; generous for a loaded machine).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(nodes() > 1 ? 45 : 20);
  std::string last;
  auto retry = [&](auto fn) {
    while (std::chrono::steady_clock::now() < deadline) {
      try {
        fn();
        return true;
      } catch (const std::exception &e) {
        last = e.what();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the condition
    }
    return false;
  };
  if (!retry([&] {
        sync::NatsClient c(origin_options(), "edgekey-test-setup");
        sync::init_origin(c, origin_options());
        if (usage_bucket) sync::init_usage_bucket(c, origin_options());
      })) {
    if (why) *why = "origin bucket" + std::string(usage_bucket ? "s" : "") + ": " + last + "\nhub log:\n" + hub_->log();
    return false;
  }
  for (size_t i = 0; i < regions_.size(); ++i) {
    NatsServer &r = *regions_[i].front();
    const int replicas = int(regions_[i].size());
    if (!retry([&] {
          sync::NatsClient c(region_options(i), "edgekey-test-setup");
          sync::init_region(c, region_options(i), replicas);
        })) {
      if (why) *why = "mirror in " + r.domain() + ": " + last + "\nlog:\n" + r.log();
      return false;
    }
    if (replicas == 1) continue;
    // Every node healthy: JetStream current, the mirror's replicas in sync.
    for (auto &n : regions_[i]) {
      if (!retry([&] {
            if (!n->monitor("/healthz")) throw std::runtime_error(n->name() + ": /healthz not ok");
          })) {
        if (why) *why = "region " + r.domain() + ": " + last + "\nlog:\n" + n->log();
        return false;
      }
    }
    if (!retry([&] {
          auto m = mirror_cluster(r);
          if (!m || m->leader.empty() || m->current_followers != replicas - 1)
            throw std::runtime_error("the mirror has no leader or lacks current replicas");
        })) {
      if (why) *why = "region " + r.domain() + ": " + last;
      return false;
    }
  }
  return true;
}

}  // namespace edgekey::test
