// nats_servers.cpp -- see nats_servers.hpp.
#include "nats_servers.hpp"

#include "spawn.hpp"

#include "sync/nats/nats_streams.hpp"
#include "tests/logscan/test_log_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace edgekey::test {

namespace {

bool accepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback_address(port);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
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

NatsTopology::NatsTopology(std::vector<std::string> regions) {
  hub_ = std::make_unique<NatsServer>(dir_.path(), "eu-hub", "eu", 0);
  for (const auto &r : regions)
    regions_.push_back(std::make_unique<NatsServer>(dir_.path(), r + "-leaf", r, hub_->leaf_port()));
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
    if (!r->start(why)) return false;
  // JetStream and the leafnode links come up after the client port: retry
  // the set-up until it goes through (bounded).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
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
      })) {
    if (why) *why = "origin bucket: " + last + "\nhub log:\n" + hub_->log();
    return false;
  }
  for (auto &r : regions_) {
    if (!retry([&] {
          sync::NatsClient c(options(*r), "edgekey-test-setup");
          sync::init_region(c, options(*r));
        })) {
      if (why) *why = "mirror in " + r->domain() + ": " + last + "\nlog:\n" + r->log();
      return false;
    }
  }
  return true;
}

}  // namespace edgekey::test
