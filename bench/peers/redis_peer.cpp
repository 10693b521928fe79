// redis_peer.cpp -- Redis over a Unix socket as a peer: see peers.hpp.
#include "peers.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace edgekey::bench {

class RedisPeer::Client {
 public:
  explicit Client(const std::string &sock) {
    c_ = redisConnectUnix(sock.c_str());
    if (!c_ || c_->err) throw std::runtime_error("redis: cannot connect to " + sock);
  }
  ~Client() { redisFree(c_); }
  int lookup(std::string_view token, PeerResult &out) {
    uint8_t h[32];
    hasher_.hash(token, h);
    auto *r = static_cast<redisReply *>(redisCommand(c_, "GET %b", h, size_t(32)));
    if (!r) fatal("redis: connection lost");
    int st = 401;
    out.status = 401;
    if (r->type == REDIS_REPLY_STRING && r->len == sizeof(PeerValue)) {
      PeerValue pv;
      std::memcpy(&pv, r->str, sizeof pv);
      st = answer(pv, out);
    }
    freeReplyObject(r);
    return st;
  }
  redisContext *ctx() { return c_; }

 private:
  shm::TokenHasher hasher_;
  redisContext *c_ = nullptr;
};

struct RedisPeer::Impl {
  std::string dir, sock;
  pid_t pid = -1;
  int cleanup = -1;
  std::mutex mu;
  std::map<int, std::unique_ptr<Client>> clients;
};

namespace {
void stop(pid_t pid, const std::string &dir) {
  if (pid > 0) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
}
}  // namespace

RedisPeer::RedisPeer(const KeySet &ks) : impl_(std::make_unique<Impl>()) {
  std::string tmpl = "/tmp/" + run_tag() + "-redis-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("redis: mkdtemp failed");
  impl_->dir = tmpl;
  impl_->sock = impl_->dir + "/redis.sock";
  const std::string conf = impl_->dir + "/redis.conf";
  FILE *f = fopen(conf.c_str(), "w");
  if (!f) throw std::runtime_error("redis: cannot write " + conf);
  // No TCP at all (port 0); no persistence; the socket only for this user.
  fprintf(f,
          "port 0\nunixsocket %s\nunixsocketperm 700\ndir %s\nsave \"\"\nappendonly no\n"
          "daemonize no\nloglevel warning\nlogfile %s/redis.log\ndatabases 1\n",
          impl_->sock.c_str(), impl_->dir.c_str(), impl_->dir.c_str());
  fclose(f);
  impl_->pid = fork();
  if (impl_->pid == 0) {
    execlp("redis-server", "redis-server", conf.c_str(), (char *)nullptr);
    _exit(127);
  }
  const pid_t pid = impl_->pid;
  const std::string dir = impl_->dir;
  impl_->cleanup = add_cleanup([pid, dir] { stop(pid, dir); });
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    if (redisContext *c = redisConnectUnix(impl_->sock.c_str())) {
      up = !c->err;
      redisFree(c);
    }
    if (!up) poll(nullptr, 0, 10);
  }
  if (!up) throw std::runtime_error("redis: redis-server did not open " + impl_->sock + " (see its log there)");

  // Load: SETs pipelined in batches of 10k.
  Client loader(impl_->sock);
  redisContext *c = loader.ctx();
  constexpr size_t kBatch = 10'000;
  for (size_t at = 0; at < ks.hashes.size(); at += kBatch) {
    const size_t end = std::min(ks.hashes.size(), at + kBatch);
    for (size_t i = at; i < end; ++i) {
      PeerValue pv = KeySet::value_for(i);
      redisAppendCommand(c, "SET %b %b", ks.hashes[i].data(), size_t(32), &pv, sizeof pv);
    }
    for (size_t i = at; i < end; ++i) {
      void *r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK || !r ||
          static_cast<redisReply *>(r)->type != REDIS_REPLY_STATUS)
        throw std::runtime_error("redis: SET failed");
      freeReplyObject(r);
    }
  }
}

RedisPeer::~RedisPeer() {
  impl_->clients.clear();
  stop(impl_->pid, impl_->dir);
  remove_cleanup(impl_->cleanup);
}

RedisPeer::Client &RedisPeer::client(int thread) {
  return client_for(impl_->clients, impl_->mu, thread, [&] { return std::make_unique<Client>(impl_->sock); });
}

int RedisPeer::lookup(Client &c, std::string_view token, PeerResult &out) { return c.lookup(token, out); }

}  // namespace edgekey::bench
