// peers.hpp -- the key set and the peers peers_bench runs edgekey against.
//
// Every peer stores the same N keys (32-byte SHA-256 of the token) with the
// same 64-byte value and answers a lookup the way a gateway would: hash the
// token with edgekey's TokenHasher, look the hash up, copy the key id out of
// the value on a hit. lookup() returns 200 on a hit and 401 on a miss, so
// the bench can chain each request to the previous answer (see
// peers_bench.cpp) and check every peer against the same expectations.
#pragma once

#include "shm/writer/hasher.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace edgekey::bench {

using Hash = std::array<uint8_t, 32>;

// What each store holds per key: a small record, as a gateway needs it.
struct PeerValue {
  char key_id[24];
  char workspace[24];
  uint8_t role, type, env, status;  // status 1 = active
  uint32_t reserved;
  uint64_t perms;
};
static_assert(sizeof(PeerValue) == 64);

// A lookup's answer: what the gateway keeps from the record.
struct PeerResult {
  int status = 0;
  char key_id[24];
};

// Fills out from a found value; returns the status.
inline int answer(const PeerValue &v, PeerResult &out) {
  std::memcpy(out.key_id, v.key_id, sizeof out.key_id);
  out.status = v.status == 1 ? 200 : 401;
  return out.status;
}

struct KeySet {
  int64_t n = 0;
  std::vector<Hash> hashes;          // every key's hash, key i at index i
  std::vector<std::string> workload; // shuffled tokens: half of keys in the set, half unknown
  std::vector<uint8_t> expect_hit;   // per workload token
  // The same for a set of the first `head` keys (the daemon's, when smaller).
  int64_t head = 0;
  std::vector<std::string> head_workload;
  std::vector<uint8_t> head_expect_hit;

  static PeerValue value_for(uint64_t i) {
    PeerValue v{};
    char buf[32];
    std::snprintf(buf, sizeof buf, "key_%llu", (unsigned long long)i);
    std::memcpy(v.key_id, buf, sizeof v.key_id - 1);
    std::snprintf(v.workspace, sizeof v.workspace, "ws_%llu", (unsigned long long)(i % 1000));
    v.role = uint8_t(i % 2);
    v.type = 1;
    v.env = 1;
    v.status = 1;
    v.perms = 0b11;
    return v;
  }
};

// One client per benchmark thread index, kept for the run (as a worker keeps
// its connection / transaction / validator).
template <class Client, class Make>
Client &client_for(std::map<int, std::unique_ptr<Client>> &pool, std::mutex &mu, int thread, Make make) {
  std::lock_guard lock(mu);
  auto &c = pool[thread];
  if (!c) c = make();
  return *c;
}

// Cleanups that also run on exit() and SIGINT/SIGTERM (children, segments).
int add_cleanup(std::function<void()> fn);
void remove_cleanup(int id);

// Prints the message and exits (running the cleanups).
[[noreturn]] void fatal(const char *msg);

// Unique names for this run's resources.
std::string run_tag();  // "ekpeers-<pid>"

// LMDB: the hashes as keys in one environment under /dev/shm; each reader
// reuses one MDB_RDONLY transaction per thread with mdb_txn_renew/reset
// around every mdb_get (each request sees the newest committed data).
class LmdbPeer {
 public:
  explicit LmdbPeer(const KeySet &ks);
  ~LmdbPeer();
  class Client;
  Client &client(int thread);
  static int lookup(Client &c, std::string_view token, PeerResult &out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Boost.Interprocess: boost::unordered_map in a managed_shared_memory
// segment, readers behind an interprocess_sharable_mutex (lock_sharable).
class BoostPeer {
 public:
  explicit BoostPeer(const KeySet &ks);
  ~BoostPeer();
  class Client;
  Client &client(int thread);
  static int lookup(Client &c, std::string_view token, PeerResult &out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Redis: its own redis-server on a Unix socket in a temp dir (port 0), keys
// loaded pipelined, GET <32-byte hash> through hiredis, one connection per
// thread.
class RedisPeer {
 public:
  explicit RedisPeer(const KeySet &ks);
  ~RedisPeer();
  class Client;
  Client &client(int thread);
  static int lookup(Client &c, std::string_view token, PeerResult &out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// edgekeyd: the real binary on a temp config and a YAML keyset of the first
// ks.head keys; GET /v1/validate over its Unix socket, one keep-alive
// connection per thread.
class EdgekeydPeer {
 public:
  EdgekeydPeer(const KeySet &ks, const std::string &edgekeyd_path);
  ~EdgekeydPeer();
  class Client;
  Client &client(int thread);
  static int lookup(Client &c, std::string_view token, PeerResult &out);
  double load_seconds() const;  // start to first answer (keyset parse + table build)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgekey::bench
