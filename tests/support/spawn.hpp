// spawn.hpp -- starting a server or tool process from a test.
//
// A test process has threads (libnats', gtest's, a reader's) that may hold a
// lock, malloc's or a sanitizer's, at the moment of fork(); the child has
// only the forking thread, so a child that calls malloc before exec (fopen,
// setenv, std::string) can wait for that lock forever. spawn() builds
// everything the child needs before fork(), and the child makes only
// async-signal-safe calls (dup2, prctl, execve) before exec.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace edgekey::test {

struct SpawnOptions {
  std::vector<std::string> env;  // "NAME=value": added to this process's environment, or replacing
  std::string log_path;          // stderr appended to this file ("" = inherited)
  bool stdout_to_log = false;    // stdout to log_path too
  bool die_with_parent = false;  // SIGTERM when the test process dies (PR_SET_PDEATHSIG)
};

// Forks and executes argv (argv[0] without a '/' is looked up in PATH).
// The child's pid, or -1 when fork() or opening the log failed. A child that
// cannot exec exits with status 127.
pid_t spawn(const std::vector<std::string> &argv, const SpawnOptions &options = {});

}  // namespace edgekey::test
