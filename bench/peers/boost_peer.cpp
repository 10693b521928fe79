// boost_peer.cpp -- Boost.Interprocess unordered_map as a peer: see peers.hpp.
#include "peers.hpp"

#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/managed_shared_memory.hpp>
#include <boost/interprocess/sync/interprocess_sharable_mutex.hpp>
#include <boost/interprocess/sync/sharable_lock.hpp>
#include <boost/unordered_map.hpp>

#include <stdexcept>

namespace edgekey::bench {

namespace bip = boost::interprocess;

namespace {
struct HashKey {
  uint8_t b[32];
  bool operator==(const HashKey &o) const { return shm::hash_equal(b, o.b); }
};
// The key is already a uniform hash: its first 8 bytes are the bucket hash.
struct HashKeyHash {
  size_t operator()(const HashKey &k) const {
    uint64_t w;
    std::memcpy(&w, k.b, 8);
    return size_t(w);
  }
};
using Segment = bip::managed_shared_memory;
using Alloc = bip::allocator<std::pair<const HashKey, PeerValue>, Segment::segment_manager>;
using Map = boost::unordered_map<HashKey, PeerValue, HashKeyHash, std::equal_to<HashKey>, Alloc>;
}  // namespace

class BoostPeer::Client {
 public:
  Client(Map *map, bip::interprocess_sharable_mutex *mu) : map_(map), mu_(mu) {}
  int lookup(std::string_view token, PeerResult &out) {
    HashKey k;
    hasher_.hash(token, k.b);
    bip::sharable_lock<bip::interprocess_sharable_mutex> lock(*mu_);
    auto it = map_->find(k);
    if (it == map_->end()) {
      out.status = 401;
      return 401;
    }
    return answer(it->second, out);
  }

 private:
  shm::TokenHasher hasher_;
  Map *map_;
  bip::interprocess_sharable_mutex *mu_;
};

struct BoostPeer::Impl {
  std::string name;
  std::unique_ptr<Segment> writer, reader;
  Map *map = nullptr;
  bip::interprocess_sharable_mutex *mu = nullptr;
  int cleanup = -1;
  std::mutex cmu;
  std::map<int, std::unique_ptr<Client>> clients;
};

BoostPeer::BoostPeer(const KeySet &ks) : impl_(std::make_unique<Impl>()) {
  impl_->name = run_tag() + "-boost-" + std::to_string(ks.n);
  const std::string name = impl_->name;
  bip::shared_memory_object::remove(name.c_str());
  impl_->cleanup = add_cleanup([name] { bip::shared_memory_object::remove(name.c_str()); });
  // Node (key, value, next, bucket info) plus the allocator's header, buckets.
  const size_t bytes = size_t(ks.n) * 192 + (64u << 20);
  impl_->writer = std::make_unique<Segment>(bip::create_only, name.c_str(), bytes);
  auto *seg = impl_->writer.get();
  seg->construct<bip::interprocess_sharable_mutex>("mutex")();
  Map *m = seg->construct<Map>("map")(size_t(ks.n), HashKeyHash(), std::equal_to<HashKey>(),
                                      Alloc(seg->get_segment_manager()));
  for (size_t i = 0; i < ks.hashes.size(); ++i) {
    HashKey k;
    std::memcpy(k.b, ks.hashes[i].data(), 32);
    m->emplace(k, KeySet::value_for(i));
  }
  // Readers open the segment by name, as another process would.
  impl_->reader = std::make_unique<Segment>(bip::open_only, name.c_str());
  impl_->map = impl_->reader->find<Map>("map").first;
  impl_->mu = impl_->reader->find<bip::interprocess_sharable_mutex>("mutex").first;
  if (!impl_->map || !impl_->mu) throw std::runtime_error("boost: map or mutex not found");
}

BoostPeer::~BoostPeer() {
  impl_->clients.clear();
  impl_->reader.reset();
  impl_->writer.reset();
  bip::shared_memory_object::remove(impl_->name.c_str());
  remove_cleanup(impl_->cleanup);
}

BoostPeer::Client &BoostPeer::client(int thread) {
  return client_for(impl_->clients, impl_->cmu, thread, [&] { return std::make_unique<Client>(impl_->map, impl_->mu); });
}

int BoostPeer::lookup(Client &c, std::string_view token, PeerResult &out) { return c.lookup(token, out); }

}  // namespace edgekey::bench
