// conformance_env -- runs one conformance runner against a real edgekeyd
// loaded with the keyset of a case file (format: README.md here).
//
//   conformance_env --edgekeyd PATH --cases FILE [--phase P]... -- RUNNER [ARG...]
//
// Mints a token for every name of the file's "tokens" (at run time: no token
// is ever stored in the tree), writes the keyset (hashes only) and a config
// into a private temp dir, starts edgekeyd on them, and runs RUNNER once per
// phase the cases use, in this order:
//   unavailable  the keyset file does not parse and there is no snapshot:
//                the table exists but was never loaded (503 keyset_unavailable)
//   live         the keyset loaded (READY=1)
//   stale        the keyset file broken again: the upstream stops confirming
//                and, past staleness.max, fail_closed answers 503 keyset_stale
// (--phase: only those; a binding's own tests run in `live` alone.)
// RUNNER gets EDGEKEY_CONFORMANCE_{CASES,TOKENS,TABLE,SOCKET,PHASE}. Exit 0
// when RUNNER exited 0 in every phase; 1 otherwise; 2 on a setup error.
// edgekeyd's log goes to EDGEKEY_TEST_LOG_DIR (tests/logscan scans it).
#include "eventually.hpp"
#include "shm/writer/hasher.hpp"
#include "shm/writer/table_writer.hpp"
#include "shm/writer/token.hpp"
#include "spawn.hpp"
#include "sync/record/key_record.hpp"
#include "sync/record/keyset_file.hpp"
#include "sync/record/record_json.hpp"
#include "tests/logscan/test_log_dir.hpp"

#include <edgekey/edgekey.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

using namespace edgekey;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using edgekey::test::eventually;

namespace {

[[noreturn]] void die(const std::string &what) {
  fprintf(stderr, "conformance_env: %s\n", what.c_str());
  exit(2);
}

void write_file(const std::string &path, const std::string &text, mode_t mode = 0644) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0 || ::write(fd, text.data(), text.size()) != ssize_t(text.size()) || ::close(fd) != 0)
    die("cannot write " + tmp + ": " + strerror(errno));
  if (rename(tmp.c_str(), path.c_str()) != 0) die("cannot rename " + tmp + ": " + strerror(errno));
}

struct Daemon {
  pid_t pid = -1;
  int notify_fd = -1;
  std::string notes;  // every sd_notify datagram so far

  bool alive() {
    int st;
    if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) pid = -1;
    return pid > 0;
  }
  void drain_notify() {
    char buf[4096];
    ssize_t n;
    while ((n = recv(notify_fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) notes.append(buf, size_t(n)).append("\n");
  }
  void stop() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    if (!eventually([&] { return !alive(); }, std::chrono::milliseconds(20000))) {
      fprintf(stderr, "conformance_env: edgekeyd ignored SIGTERM for 20 s; killing it\n");
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
};

bool socket_answers(const std::string &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un a{};
  a.sun_family = AF_UNIX;
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// The code ek_validate gives `token` (no permission, IP, origin, env); -1
// when the table cannot be opened.
int library_code(const std::string &table, const std::string &token) {
  ek_validator *v = nullptr;
  if (ek_open(table.c_str(), &v) != 0) return -1;
  ek_request q{};
  q.authorization = token.c_str();
  ek_result r;
  const int rc = ek_validate(v, &q, &r);
  ek_close(v);
  return rc == 0 ? r.code : -1;
}

int run_phase(const std::vector<std::string> &runner, const std::vector<std::string> &env, const std::string &phase) {
  test::SpawnOptions o;
  o.env = env;
  o.env.push_back("EDGEKEY_CONFORMANCE_PHASE=" + phase);
  o.die_with_parent = true;
  fprintf(stderr, "conformance_env: phase %s: %s\n", phase.c_str(), runner[0].c_str());
  fflush(stderr);
  const pid_t pid = test::spawn(runner, o);
  if (pid < 0) die("cannot start " + runner[0] + ": " + strerror(errno));
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  fprintf(stderr, "conformance_env: phase %s: %s %s %d\n", phase.c_str(), runner[0].c_str(),
          WIFEXITED(st) ? "exited" : "was killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
  return 1;
}

std::string config_yaml(const json &cfg, const std::string &table, const std::string &dir) {
  std::ostringstream y;
  // JSON scalars, sequences and maps are YAML flow style.
  y << "region: " << cfg.at("region").dump() << "\n"
    << "key_prefix: " << cfg.at("key_prefix").dump() << "\n"
    << "legacy_tokens: " << cfg.value("legacy_tokens", json(false)).dump() << "\n"
    << "table:\n  name: " << table << "\n  capacity: 1024\n  readers_group: \"\"\n"
    << "socket:\n  path: " << dir << "/edgekeyd.sock\n"
    << "upstream:\n  file: " << dir << "/keys.yaml\n"
    << "snapshot: " << dir << "/snapshot\n"
    << "staleness:\n  max: " << cfg.at("staleness").at("max").get<std::string>()
    << "\n  policy: " << cfg.at("staleness").at("policy").get<std::string>() << "\n"
    << "permissions: " << cfg.at("permissions").dump() << "\n"
    << "publishable: " << cfg.at("publishable").dump() << "\n"
    << "roles: " << cfg.at("roles").dump() << "\n";
  return y.str();
}

constexpr const char *kUsage = "usage: conformance_env --edgekeyd PATH --cases FILE [--phase P]... -- RUNNER [ARG...]";

}  // namespace

int main(int argc, char **argv) {
  std::string edgekeyd, cases_path;
  std::vector<std::string> runner;
  std::set<std::string> only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--edgekeyd" && i + 1 < argc) edgekeyd = argv[++i];
    else if (a == "--cases" && i + 1 < argc) cases_path = argv[++i];
    else if (a == "--phase" && i + 1 < argc) only.insert(argv[++i]);
    else if (a == "--") {
      runner.assign(argv + i + 1, argv + argc);
      break;
    } else die(kUsage);
  }
  if (edgekeyd.empty() || cases_path.empty() || runner.empty()) die(kUsage);

  json doc;
  try {
    std::ifstream in(cases_path);
    if (!in) die("cannot read " + cases_path);
    doc = json::parse(in);
  } catch (const std::exception &e) {
    die(cases_path + ": " + e.what());
  }
  if (doc.value("format", "") != "edgekey-conformance/1") die(cases_path + ": format is not edgekey-conformance/1");

  char tmpl[] = "/tmp/ekconf-XXXXXX";
  if (!mkdtemp(tmpl)) die(std::string("mkdtemp: ") + strerror(errno));
  const std::string dir = tmpl;
  const std::string table = "ekconf-" + std::to_string(getpid());
  const std::string keyset = dir + "/keys.yaml", socket = dir + "/edgekeyd.sock";

  // Tokens, minted now; readable by this user only, removed with the dir.
  std::map<std::string, std::string> tokens;
  json token_file = json::object();
  for (const auto &[name, t] : doc.at("tokens").items()) {
    tokens[name] = shm::generate_token(t.at("prefix").get<std::string>(), t.at("type").get<std::string>(),
                                       t.at("env").get<std::string>());
    token_file[name] = tokens[name];
  }
  write_file(dir + "/tokens.json", token_file.dump(1) + "\n", 0600);

  std::vector<sync::KeyRecord> records;
  const shm::TokenHasher hasher;
  for (const auto &entry : doc.at("keyset")) {
    json rec = entry;
    const std::string name = rec.at("token").get<std::string>();
    if (!tokens.count(name)) die("keyset entry " + rec.value("id", "?") + " names no token \"" + name + "\"");
    rec.erase("token");
    std::array<uint8_t, 32> h;
    hasher.hash(tokens[name], h.data());
    rec["hash"] = sync::format_record_hash(h, sync::HashScheme::Sha256);
    auto r = sync::decode_record_json(rec.dump());
    if (!r) die("keyset entry for \"" + name + "\": " + r.error);
    records.push_back(*r.value);
  }
  std::set<std::string> phases;
  for (const auto &c : doc.at("cases")) phases.insert(c.value("phase", "live"));
  for (const auto &p : phases)
    if (p != "unavailable" && p != "live" && p != "stale") die("unknown phase \"" + p + "\"");
  if (!only.empty()) {
    for (const auto &p : only)
      if (!phases.count(p)) die("--phase " + p + ": no case has that phase");
    phases = only;
  }
  if (doc.at("keyset").empty()) die("the keyset is empty");
  // A token of the keyset, to see from the library which state the table is in.
  const std::string probe = tokens.at(doc.at("keyset")[0].at("token").get<std::string>());

  write_file(dir + "/edgekey.yaml", config_yaml(doc.at("config"), table, dir));
  const std::string broken = "keys: [\n";  // does not parse: the file source reports unhealthy
  write_file(keyset, broken);

  Daemon d;
  d.notify_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  {
    struct sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s/notify.sock", dir.c_str());
    if (bind(d.notify_fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) die("bind notify socket");
  }
  test::SpawnOptions o;
  o.env = {"NOTIFY_SOCKET=" + dir + "/notify.sock"};
  o.log_path = test::log_path_or("edgekeyd", dir + "/edgekeyd.log");
  o.die_with_parent = true;
  d.pid = test::spawn({edgekeyd, "--config", dir + "/edgekey.yaml"}, o);
  if (d.pid < 0) die("cannot start " + edgekeyd);

  const std::vector<std::string> env = {"EDGEKEY_CONFORMANCE_CASES=" + cases_path,
                                        "EDGEKEY_CONFORMANCE_TOKENS=" + dir + "/tokens.json",
                                        "EDGEKEY_CONFORMANCE_TABLE=" + table,
                                        "EDGEKEY_CONFORMANCE_SOCKET=" + socket};
  int failed = 0;
  std::string setup_error;
  using std::chrono::milliseconds;
  if (!eventually([&] { return !d.alive() || (socket_answers(socket) && library_code(table, probe) >= 0); },
                  milliseconds(20000)) ||
      !d.alive()) {
    setup_error = "edgekeyd did not serve its socket and table within 20 s (log " + o.log_path + ")";
  } else if (library_code(table, probe) != EK_CODE_KEYSET_UNAVAILABLE) {
    setup_error = "a table never loaded answers " + std::string(ek_code_name(library_code(table, probe))) +
                  ", not keyset_unavailable";
  }
  if (setup_error.empty() && phases.count("unavailable")) failed += run_phase(runner, env, "unavailable");

  if (setup_error.empty()) {
    sync::save_keyset_file(keyset, records);
    if (!eventually([&] { d.drain_notify(); return !d.alive() || d.notes.find("READY=1") != std::string::npos; },
                    milliseconds(20000)) || !d.alive())
      setup_error = "edgekeyd did not load the keyset within 20 s (log " + o.log_path + ")";
  }
  if (setup_error.empty() && phases.count("live")) failed += run_phase(runner, env, "live");

  if (setup_error.empty() && phases.count("stale")) {
    write_file(keyset, broken);
    if (!eventually([&] { return library_code(table, probe) == EK_CODE_KEYSET_STALE; }, milliseconds(30000)))
      setup_error = "the table did not turn stale within 30 s of breaking the keyset file";
    else
      failed += run_phase(runner, env, "stale");
  }

  d.stop();
  shm::TableWriter::destroy(table);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (!setup_error.empty()) die(setup_error);
  fprintf(stderr, "conformance_env: %s in %zu phase(s)\n", failed ? "FAILED" : "passed", phases.size());
  return failed ? 1 : 0;
}
