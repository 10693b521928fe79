// spawn.cpp -- see spawn.hpp.
#include "spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstring>

extern char **environ;

namespace edgekey::test {

pid_t spawn(const std::vector<std::string> &argv_in, const SpawnOptions &o) {
  std::vector<std::string> argv_s = argv_in, env_s;
  for (char **e = environ; *e; ++e) {
    const char *eq = std::strchr(*e, '=');
    const size_t name_len = eq ? size_t(eq - *e) + 1 : std::strlen(*e);
    bool replaced = false;
    for (const auto &x : o.env) replaced = replaced || x.compare(0, name_len, *e, name_len) == 0;
    if (!replaced) env_s.emplace_back(*e);
  }
  env_s.insert(env_s.end(), o.env.begin(), o.env.end());
  std::vector<char *> argv, envp;
  for (auto &s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto &s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  int log_fd = -1;
  if (!o.log_path.empty()) {
    log_fd = ::open(o.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) return -1;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (o.die_with_parent && (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent)) _exit(126);
    if (log_fd >= 0) {
      ::dup2(log_fd, 2);
      if (o.stdout_to_log) ::dup2(log_fd, 1);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (log_fd >= 0) ::close(log_fd);
  return pid;
}

}  // namespace edgekey::test
