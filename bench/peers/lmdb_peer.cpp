// lmdb_peer.cpp -- LMDB as a peer: see peers.hpp.
#include "peers.hpp"

#include <lmdb.h>
#include <stdlib.h>

#include <algorithm>
#include <stdexcept>

namespace edgekey::bench {

namespace {
void check(int rc, const char *what) {
  if (rc != 0) throw std::runtime_error(std::string("lmdb: ") + what + ": " + mdb_strerror(rc));
}
}  // namespace

class LmdbPeer::Client {
 public:
  Client(MDB_env *env, MDB_dbi dbi) : dbi_(dbi) {
    check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn_), "mdb_txn_begin");
    mdb_txn_reset(txn_);
  }
  ~Client() { mdb_txn_abort(txn_); }
  int lookup(std::string_view token, PeerResult &out) {
    uint8_t h[32];
    hasher_.hash(token, h);
    MDB_val k{32, h}, v;
    if (mdb_txn_renew(txn_) != 0) fatal("lmdb: mdb_txn_renew failed");
    int rc = mdb_get(txn_, dbi_, &k, &v);
    int st = 401;
    if (rc == 0) {
      PeerValue pv;
      std::memcpy(&pv, v.mv_data, sizeof pv);  // values need not be aligned
      st = answer(pv, out);
    } else {
      out.status = 401;
    }
    mdb_txn_reset(txn_);
    return st;
  }

 private:
  shm::TokenHasher hasher_;
  MDB_txn *txn_ = nullptr;
  MDB_dbi dbi_;
};

struct LmdbPeer::Impl {
  std::string dir;
  MDB_env *env = nullptr;
  MDB_dbi dbi = 0;
  int cleanup = -1;
  std::mutex mu;
  std::map<int, std::unique_ptr<Client>> clients;
};

LmdbPeer::LmdbPeer(const KeySet &ks) : impl_(std::make_unique<Impl>()) {
  std::string tmpl = "/dev/shm/" + run_tag() + "-lmdb-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("lmdb: mkdtemp failed");
  impl_->dir = tmpl;
  const std::string dir = impl_->dir;
  impl_->cleanup = add_cleanup([dir] { std::system(("rm -rf '" + dir + "'").c_str()); });
  const size_t mapsize = size_t(ks.n) * 256 + (64u << 20);

  // Load: one write transaction, keys in order with MDB_APPEND (LMDB's bulk
  // load path), then close and reopen read-only as a reader process would.
  {
    MDB_env *w;
    check(mdb_env_create(&w), "mdb_env_create");
    check(mdb_env_set_mapsize(w, mapsize), "mdb_env_set_mapsize");
    check(mdb_env_open(w, dir.c_str(), MDB_NOSYNC | MDB_WRITEMAP, 0600), "mdb_env_open (writer)");
    std::vector<uint32_t> order(ks.hashes.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::memcmp(ks.hashes[a].data(), ks.hashes[b].data(), 32) < 0;
    });
    MDB_txn *txn;
    MDB_dbi dbi;
    check(mdb_txn_begin(w, nullptr, 0, &txn), "mdb_txn_begin (writer)");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi), "mdb_dbi_open");
    for (uint32_t i : order) {
      PeerValue pv = KeySet::value_for(i);
      MDB_val k{32, const_cast<uint8_t *>(ks.hashes[i].data())}, v{sizeof pv, &pv};
      check(mdb_put(txn, dbi, &k, &v, MDB_APPEND), "mdb_put");
    }
    check(mdb_txn_commit(txn), "mdb_txn_commit");
    mdb_env_sync(w, 1);
    mdb_env_close(w);
  }
  check(mdb_env_create(&impl_->env), "mdb_env_create");
  check(mdb_env_set_mapsize(impl_->env, mapsize), "mdb_env_set_mapsize");
  // MDB_NOTLS: a read transaction belongs to its object, not to the OS thread
  // (the benchmark library runs each thread count on fresh threads).
  check(mdb_env_open(impl_->env, dir.c_str(), MDB_RDONLY | MDB_NOTLS, 0600), "mdb_env_open (reader)");
  MDB_txn *txn;
  check(mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
  check(mdb_dbi_open(txn, nullptr, 0, &impl_->dbi), "mdb_dbi_open");
  check(mdb_txn_commit(txn), "mdb_txn_commit");
}

LmdbPeer::~LmdbPeer() {
  impl_->clients.clear();
  if (impl_->env) mdb_env_close(impl_->env);
  std::system(("rm -rf '" + impl_->dir + "'").c_str());
  remove_cleanup(impl_->cleanup);
}

LmdbPeer::Client &LmdbPeer::client(int thread) {
  return client_for(impl_->clients, impl_->mu, thread,
                    [&] { return std::make_unique<Client>(impl_->env, impl_->dbi); });
}

int LmdbPeer::lookup(Client &c, std::string_view token, PeerResult &out) { return c.lookup(token, out); }

}  // namespace edgekey::bench
