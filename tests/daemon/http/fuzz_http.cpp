// libFuzzer entry point over the socket-free protocol layer: the input is
// split into reads (the first byte chooses the split size) and fed to a
// Session, which parses with RequestParser, calls a handler and serialises
// responses, exactly as a connection does. It must never crash, and output
// must stay bounded. Built only with EDGEKEY_FUZZ=ON and clang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "daemon/http/session.hpp"

using namespace edgekey::daemon::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Limits limits;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = 1024;
  ServerStats stats;
  const Handler handler = [](const Request& r, Response& w) {
    // Touch every view so that a dangling one shows under ASan.
    std::size_t n = r.method.size() + r.path.size() + r.query.size() + r.body.size();
    for (const auto& [name, value] : r.headers) n += name.size() + value.size();
    w.add_header("X-Len", std::to_string(n));
    if (auto a = r.header("authorization")) w.add_header("X-Auth", *a);  // CR/LF sanitised
    w.body.assign(r.target);
    if (r.path == "/status") w.status = static_cast<int>(n % 1200);
  };
  const LatencyHook hook;
  Session session(limits, handler, hook, stats);

  const std::size_t step = 1 + data[0] % 64;
  const char* in = reinterpret_cast<const char*>(data + 1);
  std::size_t left = size - 1;
  std::string pending;
  while (left > 0 && !session.closing()) {
    const std::size_t n = left < step ? left : step;
    pending.append(in, n);
    in += n;
    left -= n;
    auto p = session.consume(pending.data(), pending.size());
    pending.erase(0, p.consumed);
    if (session.output().size() > 4 * Session::kOutputHighWater) std::abort();
    session.output().clear();  // "sent"
  }
  if (session.mid_request()) session.request_timed_out();
  return 0;
}
