// nats_proxy.cpp -- see nats_proxy.hpp.
#include "nats_proxy.hpp"

#include "test_ports.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>
#include <chrono>
#include <stdexcept>
#include <string_view>

namespace edgekey::test {

namespace {

// Past this many bytes waiting for a slow side, the other side is not read.
constexpr size_t kMaxBuffered = 4u << 20;

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

bool parse_u64(std::string_view s, uint64_t &v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size();
}

// The frame of `b` at `pos`: its control line and where it ends; a line
// starting with `verb` or `hverb` (MSG/HMSG from the server, PUB/HPUB from
// the client) carries a payload whose size is its last token. nullopt while
// the frame is still arriving.
struct Frame {
  std::string_view line;
  std::vector<std::string_view> tok;  // filled for a payload frame
  bool payload = false;
  size_t end = 0;
};

std::optional<Frame> next_frame(const std::string &b, size_t pos, std::string_view verb, std::string_view hverb) {
  const size_t eol = b.find("\r\n", pos);
  if (eol == std::string::npos) return std::nullopt;
  Frame f;
  f.line = std::string_view(b.data() + pos, eol - pos);
  f.end = eol + 2;
  if (f.line.starts_with(verb) || f.line.starts_with(hverb)) {
    f.tok = split_ws(f.line);
    uint64_t total = 0;
    if (f.tok.size() >= 3 && parse_u64(f.tok.back(), total)) {
      f.payload = true;
      f.end = eol + 2 + size_t(total) + 2;
      if (b.size() < f.end) return std::nullopt;
    }
  }
  return f;
}

// Removes `"field":[...]` (an array of strings) and one comma next to it.
bool strip_array_field(std::string &json, std::string_view field) {
  std::string key;  // appended: "\"" + field + ... trips a GCC 12 -Wrestrict false positive
  key.append("\"").append(field).append("\":");
  const size_t k = json.find(key);
  if (k == std::string::npos) return false;
  const size_t close = json.find(']', k + key.size());
  if (close == std::string::npos) return false;
  size_t begin = k, end = close + 1;
  if (begin > 0 && json[begin - 1] == ',') --begin;
  else if (end < json.size() && json[end] == ',') ++end;
  json.erase(begin, end - begin);
  return true;
}

// The stream sequence in a JetStream ack subject (after "$JS.ACK."): token 3
// of <stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>, or token
// 5 in the form prefixed with <domain>.<account hash>. 0 when unparsable.
uint64_t ack_stream_seq(std::string_view meta) {
  std::vector<std::string_view> t;
  size_t i = 0;
  while (true) {
    const size_t dot = meta.find('.', i);
    t.push_back(meta.substr(i, dot == std::string_view::npos ? std::string_view::npos : dot - i));
    if (dot == std::string_view::npos) break;
    i = dot + 1;
  }
  const size_t idx = t.size() == 7 ? 3 : 5;
  uint64_t v = 0;
  return idx < t.size() && parse_u64(t[idx], v) ? v : 0;
}

constexpr std::string_view kAckPrefix = "$JS.ACK.";

}  // namespace

struct NatsProxy::Conn {
  int client = -1, server = -1;
  std::string to_server;    // from the client, not yet written to the server
  std::string from_client;  // from the client, not yet a complete frame (counted only)
  std::string from_server;  // from the server, not yet a complete frame
  std::string to_client;    // routed frames, not yet written to the client
  bool server_closed = false;  // the server end is gone: flush to_client, then close
  ~Conn() {
    if (client >= 0) ::close(client);
    if (server >= 0) ::close(server);
  }
};

NatsProxy::NatsProxy(int upstream_port, uint64_t seed) : upstream_port_(upstream_port), rng_(seed) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = loopback_address(0);
  socklen_t len = sizeof a;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0 || ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
    if (listen_fd_ >= 0) ::close(listen_fd_);
    throw std::runtime_error("NatsProxy: cannot listen on 127.0.0.1");
  }
  set_nonblocking(listen_fd_);
  port_ = ntohs(a.sin_port);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    ::close(listen_fd_);
    throw std::runtime_error("NatsProxy: eventfd failed");
  }
  thread_ = std::thread([this] { run(); });
}

NatsProxy::~NatsProxy() {
  stop_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  conns_.clear();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void NatsProxy::wake() {
  const uint64_t one = 1;
  ssize_t n = ::write(wake_fd_, &one, sizeof one);
  (void)n;  // a full counter still wakes the poll
}

void NatsProxy::await_switch() {
  std::unique_lock<std::mutex> lock(switch_mu_);
  const uint64_t want = ++switch_requested_;
  wake();
  switch_cv_.wait_for(lock, std::chrono::seconds(5), [&] { return switch_seen_ >= want; });
}

void NatsProxy::set_duplicate(bool on) {
  duplicate_ = on;
  await_switch();
}

void NatsProxy::set_drop_per_mille(unsigned n) {
  drop_per_mille_ = n;
  await_switch();
}

void NatsProxy::set_blackhole(bool on) {
  blackhole_ = on;
  await_switch();
}

NatsProxy::Counters NatsProxy::counters() const {
  Counters c;
  c.connections = connections_.load();
  c.frames = frames_.load();
  c.js_deliveries = js_deliveries_.load();
  c.duplicated = duplicated_.load();
  c.js_duplicated = js_duplicated_.load();
  c.dropped = dropped_.load();
  c.info_rewritten = info_rewritten_.load();
  c.consumer_creates = consumer_creates_.load();
  return c;
}

std::vector<uint64_t> NatsProxy::dropped_sequences() const {
  std::lock_guard<std::mutex> lock(dropped_mu_);
  return dropped_seqs_;
}

void NatsProxy::run() {
  std::vector<pollfd> fds;
  while (!stop_.load()) {
    {
      // Every switch requested so far is in the flags read from here on.
      std::lock_guard<std::mutex> lock(switch_mu_);
      switch_seen_ = switch_requested_;
    }
    switch_cv_.notify_all();
    const bool hole = blackhole_.load();
    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    if (!hole) {
      for (auto &c : conns_) {
        short ce = 0, se = 0;
        if (c->to_server.size() < kMaxBuffered) ce |= POLLIN;
        if (!c->to_client.empty()) ce |= POLLOUT;
        if (!c->server_closed) {
          if (c->to_client.size() < kMaxBuffered) se |= POLLIN;
          if (!c->to_server.empty()) se |= POLLOUT;
        }
        fds.push_back({c->client, ce, 0});
        fds.push_back({c->server, c->server_closed ? short(0) : se, 0});
      }
      fds.push_back({listen_fd_, POLLIN, 0});
    }
    const int n = ::poll(fds.data(), fds.size(), 1000);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents & POLLIN) {
      uint64_t v;
      ssize_t r = ::read(wake_fd_, &v, sizeof v);
      (void)r;
    }
    // A partition or stop switched on while polling: route nothing more (the
    // sockets stay readable and are served after healing).
    if (hole || blackhole_.load() || stop_.load()) continue;
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn &c = *conns_[i];
      const bool open = pump_client(c, fds[1 + 2 * i].revents) && pump_server(c, fds[2 + 2 * i].revents);
      if (!open) conns_[i].reset();
    }
    std::erase_if(conns_, [](const std::unique_ptr<Conn> &c) { return !c; });
    if (fds.back().revents & POLLIN) accept_all();
  }
}

void NatsProxy::accept_all() {
  while (true) {
    const int cfd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (cfd < 0) return;
    auto c = std::make_unique<Conn>();
    c->client = cfd;
    c->server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback_address(upstream_port_);
    if (c->server < 0 || ::connect(c->server, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0)
      continue;  // the server is down: the client sees its connection closed
    const int one = 1;
    ::setsockopt(c->client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(c->server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblocking(c->client);
    set_nonblocking(c->server);
    conns_.push_back(std::move(c));
    ++connections_;
  }
}

namespace {

// Appends what `fd` has to `buf`: false at end of stream or on an error.
bool read_into(int fd, std::string &buf) {
  char tmp[65536];
  const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
  if (n > 0) {
    buf.append(tmp, size_t(n));
    return true;
  }
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

// Writes what it can of `buf` to `fd`: false on an error.
bool write_from(int fd, std::string &buf) {
  const ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
  if (n >= 0) {
    buf.erase(0, size_t(n));
    return true;
  }
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

}  // namespace

bool NatsProxy::pump_client(Conn &c, short revents) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    const size_t before = c.to_server.size();
    if (!read_into(c.client, c.to_server)) return false;
    c.from_client.append(c.to_server, before, std::string::npos);
    scan_from_client(c);
  }
  if ((revents & POLLOUT) && !write_from(c.client, c.to_client)) return false;
  return true;
}

bool NatsProxy::pump_server(Conn &c, short revents) {
  if (!c.server_closed) {
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
      if (!read_into(c.server, c.from_server)) c.server_closed = true;
      parse_from_server(c);
    }
    if (!c.server_closed && (revents & POLLOUT) && !write_from(c.server, c.to_server)) c.server_closed = true;
  }
  return !(c.server_closed && c.to_client.empty());
}

void NatsProxy::parse_from_server(Conn &c) {
  std::string &b = c.from_server;
  size_t pos = 0;
  while (auto f = next_frame(b, pos, "MSG ", "HMSG ")) {
    // MSG subj sid [reply] n / HMSG subj sid [reply] h n
    const size_t plain = f->line.starts_with("MSG ") ? 4 : 5;
    const std::string reply = f->payload && f->tok.size() == plain + 1 ? std::string(f->tok[3]) : std::string();
    route_frame(c, b.data() + pos, f->end - pos, f->payload, reply);
    pos = f->end;
  }
  b.erase(0, pos);
}

void NatsProxy::scan_from_client(Conn &c) {
  std::string &b = c.from_client;
  size_t pos = 0;
  while (auto f = next_frame(b, pos, "PUB ", "HPUB ")) {
    if (f->payload && f->tok[1].find(".API.CONSUMER.CREATE.") != std::string_view::npos) ++consumer_creates_;
    pos = f->end;
  }
  b.erase(0, pos);
}

bool NatsProxy::decide_drop() {
  const unsigned per_mille = drop_per_mille_.load();
  if (per_mille == 0) return false;
  // splitmix64: the same seed drops the same positions of the delivery sequence.
  uint64_t z = (rng_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return z % 1000 < per_mille;
}

void NatsProxy::route_frame(Conn &c, const char *frame, size_t len, bool is_msg, const std::string &reply) {
  ++frames_;
  const std::string_view f(frame, len);
  if (f.starts_with("INFO ")) {
    std::string info(f);
    const bool a = strip_array_field(info, "connect_urls");
    const bool b = strip_array_field(info, "ws_connect_urls");
    if (a || b) ++info_rewritten_;
    c.to_client += info;
    return;
  }
  if (!is_msg) {
    c.to_client.append(f);
    return;
  }
  const bool js = reply.starts_with(kAckPrefix);
  if (js) {
    ++js_deliveries_;
    if (decide_drop()) {
      ++dropped_;
      std::lock_guard<std::mutex> lock(dropped_mu_);
      dropped_seqs_.push_back(ack_stream_seq(std::string_view(reply).substr(kAckPrefix.size())));
      return;
    }
  }
  c.to_client.append(f);
  if (duplicate_.load()) {
    c.to_client.append(f);
    ++duplicated_;
    if (js) ++js_duplicated_;
  }
}

}  // namespace edgekey::test
