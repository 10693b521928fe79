// socket_bench -- a validation over edgekeyd's Unix socket against the floor
// of any Unix-socket service: a bare echo of the same request, in one run.
//
// The real edgekeyd binary is started on a temp config and keyset; clients
// hold keep-alive connections (one per benchmark thread) and send
// GET /v1/validate with a valid key. The echo server answers each request
// with a response of the daemon's size. Both servers get their own process
// and all clients share the machine, as on a gateway host.
//
//   socket_bench [--edgekeyd=PATH]        (bench/run passes the built binary)
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "sync/record/keyset_file.hpp"
#include "unix_http.hpp"

#include <benchmark/benchmark.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

using namespace edgekey;
using edgekey::bench::connect_unix;
using edgekey::bench::read_response;

namespace {

std::string g_edgekeyd = EDGEKEYD_PATH;
std::string g_dir, g_table, g_daemon_sock, g_echo_sock, g_token, g_request;
size_t g_response_size = 0;
pid_t g_daemon = -1, g_echo = -1;


bool wait_for_socket(const std::string &path) {
  for (int i = 0; i < 1000; ++i) {  // up to ~10 s: the daemon loads its keyset first
    int fd = connect_unix(path);
    if (fd >= 0) {
      close(fd);
      return true;
    }
    poll(nullptr, 0, 10);
  }
  return false;
}


// The floor: a process that answers each request (read until \r\n\r\n) with
// g_response_size bytes, one thread per connection.
void run_echo_server(const std::string &path) {
  int ls = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  unlink(path.c_str());
  if (bind(ls, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 || listen(ls, 64) != 0) _exit(1);
  std::string reply = "HTTP/1.1 200 OK\r\nContent-Length: ";
  std::string body(g_response_size > 80 ? g_response_size - 80 : 16, 'x');
  reply += std::to_string(body.size()) + "\r\n\r\n" + body;
  for (;;) {
    int c = accept(ls, nullptr, nullptr);
    if (c < 0) continue;
    std::thread([c, reply] {
      char buf[8192];
      std::string in;
      for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, size_t(n));
        size_t end;
        while ((end = in.find("\r\n\r\n")) != std::string::npos) {
          in.erase(0, end + 4);
          if (write(c, reply.data(), reply.size()) != ssize_t(reply.size())) break;
        }
      }
      close(c);
    }).detach();
  }
}

void setup() {
  char tmpl[] = "/tmp/edgekey-socket-bench-XXXXXX";
  g_dir = mkdtemp(tmpl);
  g_daemon_sock = g_dir + "/edgekeyd.sock";
  g_echo_sock = g_dir + "/echo.sock";
  g_table = "ekbench-sock-" + std::to_string(getpid());
  const std::string &table = g_table;

  g_token = shm::generate_token("ek", "sk", "live");
  std::array<uint8_t, 32> h;
  shm::TokenHasher().hash(g_token, h.data());
  sync::KeyRecord r;
  r.id = "key_bench";
  r.hash = sync::format_record_hash(h, sync::HashScheme::Sha256);
  r.workspace = "ws_bench";
  r.role = "developer";
  sync::save_keyset_file(g_dir + "/keys.yaml", {r});
  FILE *f = fopen((g_dir + "/edgekey.yaml").c_str(), "w");
  fprintf(f,
          "region: bench\ntable:\n  name: %s\n  capacity: 1024\n  readers_group: \"\"\nsocket:\n  path: %s\n"
          "upstream:\n  file: %s/keys.yaml\nsnapshot: %s/snapshot\nlog_level: warn\n",
          table.c_str(), g_daemon_sock.c_str(), g_dir.c_str(), g_dir.c_str());
  fclose(f);
  g_daemon = fork();
  if (g_daemon == 0) {
    execl(g_edgekeyd.c_str(), "edgekeyd", "--config", (g_dir + "/edgekey.yaml").c_str(), (char *)nullptr);
    _exit(127);
  }
  if (!wait_for_socket(g_daemon_sock)) {
    fprintf(stderr, "socket_bench: edgekeyd (%s) did not open %s\n", g_edgekeyd.c_str(), g_daemon_sock.c_str());
    exit(1);
  }
  g_request = "GET /v1/validate HTTP/1.1\r\nHost: edgekey\r\nAuthorization: Bearer " + g_token +
              "\r\nX-Edgekey-Permission: agents:deploy\r\n\r\n";
  int fd = connect_unix(g_daemon_sock);
  std::string resp;
  if (write(fd, g_request.data(), g_request.size()) < 0 || !read_response(fd, resp) ||
      resp.compare(0, 12, "HTTP/1.1 200") != 0) {
    fprintf(stderr, "socket_bench: the daemon did not validate the bench key:\n%s\n", resp.c_str());
    exit(1);
  }
  close(fd);
  g_response_size = resp.size();
  g_echo = fork();
  if (g_echo == 0) run_echo_server(g_echo_sock);
  if (!wait_for_socket(g_echo_sock)) exit(1);
}

void teardown() {
  for (pid_t p : {g_daemon, g_echo})
    if (p > 0) {
      kill(p, SIGTERM);
      waitpid(p, nullptr, 0);
    }
  shm::TableWriter::destroy(g_table);  // edgekeyd leaves its table to readers; the bench has none
  std::string cmd = "rm -rf '" + g_dir + "'";
  if (system(cmd.c_str()) != 0) fprintf(stderr, "socket_bench: could not remove %s\n", g_dir.c_str());
}

void round_trips(benchmark::State &state, const std::string &path) {
  int fd = connect_unix(path);
  if (fd < 0) {
    state.SkipWithError("cannot connect");
    return;
  }
  std::string resp;
  for (auto _ : state) {
    if (write(fd, g_request.data(), g_request.size()) != ssize_t(g_request.size()) ||
        !read_response(fd, resp)) {
      state.SkipWithError("connection failed");
      break;
    }
  }
  close(fd);
  state.SetItemsProcessed(state.iterations());
}

void BM_EchoFloor(benchmark::State &state) { round_trips(state, g_echo_sock); }
void BM_SocketValidate(benchmark::State &state) { round_trips(state, g_daemon_sock); }

BENCHMARK(BM_EchoFloor)->Threads(1)->Threads(2)->Threads(4)->Threads(16)->UseRealTime()->Repetitions(3)->ReportAggregatesOnly();
BENCHMARK(BM_SocketValidate)->Threads(1)->Threads(2)->Threads(4)->Threads(16)->UseRealTime()->Repetitions(3)->ReportAggregatesOnly();

}  // namespace

int main(int argc, char **argv) {
  std::vector<char *> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--edgekeyd=", 11) == 0) g_edgekeyd = argv[i] + 11;
    else args.push_back(argv[i]);
  }
  int ac = int(args.size());
  benchmark::Initialize(&ac, args.data());
  setup();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  teardown();
  return 0;
}
