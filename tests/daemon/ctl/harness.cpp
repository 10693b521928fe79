#include "harness.hpp"

#include "sync/record/keyset_file.hpp"
#include "tests/logscan/test_log_dir.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <fcntl.h>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace edgekey::ctl::test {
namespace {

std::string hex(const unsigned char *p, size_t n) {
  static const char *d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

void check(bool ok, const char *what) {
  if (!ok) throw std::runtime_error(std::string(what) + ": " + std::strerror(errno));
}

}  // namespace

Proc start_ctl(const std::vector<std::string> &args, const std::vector<std::string> &env,
               const std::string &stdin_text) {
  // Everything the child needs is built before fork(): after it, only exec.
  std::vector<std::string> argv_s{EDGEKEY_CTL_BIN};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char **e = environ; *e; ++e)
    if (std::strncmp(*e, "EDGEKEY_CONFIG=", 15) != 0) env_s.emplace_back(*e);
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char *> argv, envp;
  for (auto &s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto &s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  check(::pipe2(in, O_CLOEXEC) == 0 && ::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0, "pipe2");
  // Small input fits the pipe buffer: written before the child runs.
  check(stdin_text.size() < 4096, "stdin_text too long");
  if (!stdin_text.empty()) check(::write(in[1], stdin_text.data(), stdin_text.size()) == ssize_t(stdin_text.size()), "write");
  const pid_t pid = ::fork();
  check(pid >= 0, "fork");
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(in[1]);
  ::close(out[1]);
  ::close(err[1]);
  return Proc{pid, out[0], err[0]};
}

RunResult finish(Proc p) {
  RunResult r;
  pollfd fds[2] = {{p.out_fd, POLLIN, 0}, {p.err_fd, POLLIN, 0}};
  std::string *dest[2] = {&r.out, &r.err};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        dest[i]->append(buf, size_t(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  while (::waitpid(p.pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  edgekey::test::keep_log("edgekeyctl-stderr", r.err);  // its log, for tests/logscan (stdout is output)
  return r;
}

RunResult run_ctl(const std::vector<std::string> &args, const std::vector<std::string> &env,
                  const std::string &stdin_text) {
  return finish(start_ctl(args, env, stdin_text));
}

std::map<std::string, std::string> finish_all_printing_keys(std::vector<Proc> &procs) {
  std::map<std::string, std::string> tokens;
  for (Proc &p : procs) {
    const RunResult r = finish(p);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (r.exit_code != 0) continue;
    const auto j = nlohmann::json::parse(r.out);
    tokens[j.at("id")] = j.at("token");
  }
  return tokens;
}

::testing::AssertionResult help_prints(std::vector<std::string> cmd, const std::vector<std::string> &texts) {
  cmd.push_back("--help");
  const RunResult r = run_ctl(cmd);
  if (r.exit_code != 0) return ::testing::AssertionFailure() << "exit " << r.exit_code << ": " << r.err;
  for (const std::string &t : texts)
    if (r.out.find(t) == std::string::npos) return ::testing::AssertionFailure() << "no \"" << t << "\" in: " << r.out;
  return ::testing::AssertionSuccess();
}

std::string read_file(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const std::string &path, const std::string &text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  if (!f.flush()) throw std::runtime_error("cannot write " + path);
}

bool file_exists(const std::string &path) { return ::access(path.c_str(), F_OK) == 0; }

std::string sha256_hex(const std::string &data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) throw std::runtime_error("EVP_Digest");
  return hex(md, len);
}

std::string hmac_sha256_hex(const std::string &key, const std::string &data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), int(key.size()), reinterpret_cast<const unsigned char *>(data.data()),
            data.size(), md, &len))
    throw std::runtime_error("HMAC");
  return hex(md, len);
}

std::string labelled(const std::string &text, const std::string &label) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(label + ":", 0) != 0) continue;
    std::string v = line.substr(label.size() + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    return v;
  }
  return "";
}

size_t count_of(const std::string &hay, const std::string &needle) {
  if (needle.empty()) return 0;
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

Scratch::Scratch(const std::string &extra, std::string upstream) : upstream_(std::move(upstream)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "edgekeyctl-XXXXXX").string();
  check(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp");
  dir_ = tmpl;
  write_config(extra);
}

Scratch::~Scratch() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void Scratch::write_config(const std::string &extra) const {
  write_file(config(), "region: in-mum\n"
                       "socket:\n  path: " + socket() + "\n" +
                       (upstream_.empty() ? "upstream:\n  file: " + keyset() + "\n" : upstream_) + extra);
}

RunResult Scratch::ctl(std::vector<std::string> args, const std::string &stdin_text) const {
  args.insert(args.begin(), {"--config", config()});
  return run_ctl(args, {}, stdin_text);
}

Proc Scratch::start(std::vector<std::string> args) const {
  args.insert(args.begin(), {"--config", config()});
  return start_ctl(args);
}

std::vector<sync::KeyRecord> Scratch::records() const {
  const sync::KeysetParse p = sync::load_keyset_file(keyset());
  EXPECT_TRUE(p.ok()) << p.error;
  EXPECT_TRUE(p.rejected.empty()) << (p.rejected.empty() ? "" : p.rejected.front().message);
  return p.records;
}

std::string Scratch::all_files() const {
  std::string all;
  for (const auto &e : std::filesystem::recursive_directory_iterator(dir_))
    if (e.is_regular_file()) all += read_file(e.path().string());
  return all;
}

}  // namespace edgekey::ctl::test
