// edgekeyd_peer.cpp -- edgekeyd's Unix-socket API as a peer: see peers.hpp.
#include "peers.hpp"
#include "shm/writer/table_writer.hpp"
#include "sync/record/key_record.hpp"
#include "unix_http.hpp"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace edgekey::bench {

namespace {


void stop(pid_t pid, const std::string &dir, const std::string &table) {
  if (pid > 0) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  shm::TableWriter::destroy(table);  // edgekeyd leaves its table to readers
  if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
}
}  // namespace

class EdgekeydPeer::Client {
 public:
  explicit Client(const std::string &sock) : fd_(connect_unix(sock)) {
    if (fd_ < 0) throw std::runtime_error("edgekeyd: cannot connect to " + sock);
  }
  ~Client() { close(fd_); }
  // Status of GET /v1/validate for the token; 0 when the connection failed.
  int validate(std::string_view token) {
    req_.assign("GET /v1/validate HTTP/1.1\r\nHost: edgekey\r\nAuthorization: Bearer ");
    req_.append(token);
    req_.append("\r\n\r\n");
    if (write(fd_, req_.data(), req_.size()) != ssize_t(req_.size()) || !read_response(fd_, resp_) ||
        resp_.size() < 12)
      return 0;
    return std::atoi(resp_.c_str() + 9);
  }
  int lookup(std::string_view token, PeerResult &out) {
    out.status = validate(token);
    if (out.status == 0) fatal("edgekeyd: connection lost");
    return out.status;
  }

 private:
  int fd_;
  std::string req_, resp_;
};

struct EdgekeydPeer::Impl {
  std::string dir, sock, table;
  pid_t pid = -1;
  int cleanup = -1;
  double load_s = 0;
  std::mutex mu;
  std::map<int, std::unique_ptr<Client>> clients;
};

EdgekeydPeer::EdgekeydPeer(const KeySet &ks, const std::string &edgekeyd) : impl_(std::make_unique<Impl>()) {
  std::string tmpl = "/tmp/" + run_tag() + "-edgekeyd-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("edgekeyd: mkdtemp failed");
  impl_->dir = tmpl;
  impl_->sock = impl_->dir + "/edgekeyd.sock";
  impl_->table = run_tag() + "-ekd-" + std::to_string(ks.n);
  const std::string &dir = impl_->dir;
  {
    // The keyset in the file format edgekeyctl writes (emit_keyset_yaml's
    // layout), written directly: yaml-cpp's emitter is slow for 1M records.
    FILE *f = fopen((dir + "/keys.yaml").c_str(), "w");
    if (!f) throw std::runtime_error("edgekeyd: cannot write the keyset");
    fputs("keys:\n", f);
    for (int64_t i = 0; i < ks.head; ++i) {
      const PeerValue v = KeySet::value_for(uint64_t(i));
      fprintf(f,
              "  - id: %s\n    hash: %s\n    workspace: %s\n    type: secret\n    env: live\n"
              "    role: developer\n    expires_at: null\n    status: active\n",
              v.key_id, sync::format_record_hash(ks.hashes[size_t(i)], sync::HashScheme::Sha256).c_str(), v.workspace);
    }
    fclose(f);
    f = fopen((dir + "/edgekey.yaml").c_str(), "w");
    fprintf(f,
            "region: bench\ntable:\n  name: %s\n  capacity: %lld\n  readers_group: \"\"\nsocket:\n  path: %s\n"
            "upstream:\n  file: %s/keys.yaml\nsnapshot: %s/snapshot\nlog_level: warn\n",
            impl_->table.c_str(), (long long)(ks.head * 5 / 4 + 1024), impl_->sock.c_str(), dir.c_str(),
            dir.c_str());
    fclose(f);
  }
  const auto t0 = std::chrono::steady_clock::now();
  impl_->pid = fork();
  if (impl_->pid == 0) {
    execl(edgekeyd.c_str(), "edgekeyd", "--config", (dir + "/edgekey.yaml").c_str(), (char *)nullptr);
    _exit(127);
  }
  const pid_t pid = impl_->pid;
  const std::string table = impl_->table, d = dir;
  impl_->cleanup = add_cleanup([pid, d, table] { stop(pid, d, table); });

  // Ready when a key of the set validates (the socket may open before the
  // keyset is loaded): up to 10 minutes.
  std::string probe;
  for (size_t i = 0; i < ks.head_workload.size(); ++i)
    if (ks.head_expect_hit[i]) {
      probe = ks.head_workload[i];
      break;
    }
  for (int i = 0;; ++i) {
    int fd = connect_unix(impl_->sock);
    if (fd >= 0) {
      close(fd);
      if (Client(impl_->sock).validate(probe) == 200) break;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      impl_->pid = -1;
      throw std::runtime_error("edgekeyd exited before serving (" + edgekeyd + ")");
    }
    if (i > 60'000) throw std::runtime_error("edgekeyd did not serve the keyset within 10 min");
    poll(nullptr, 0, 10);
  }
  impl_->load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

EdgekeydPeer::~EdgekeydPeer() {
  impl_->clients.clear();
  stop(impl_->pid, impl_->dir, impl_->table);
  remove_cleanup(impl_->cleanup);
}

double EdgekeydPeer::load_seconds() const { return impl_->load_s; }

EdgekeydPeer::Client &EdgekeydPeer::client(int thread) {
  return client_for(impl_->clients, impl_->mu, thread, [&] { return std::make_unique<Client>(impl_->sock); });
}

int EdgekeydPeer::lookup(Client &c, std::string_view token, PeerResult &out) { return c.lookup(token, out); }

}  // namespace edgekey::bench
