// harness.hpp -- running the real edgekeyctl binary against a scratch
// directory holding an edgekey.yaml and a keyset file.
#pragma once

#include "sync/record/key_record.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <sys/types.h>
#include <vector>

namespace edgekey::ctl::test {

struct RunResult {
  int exit_code = -1;  // the process's exit status; 128 + signal if killed
  std::string out;
  std::string err;
};

// A started edgekeyctl; finish() collects it.
struct Proc {
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;
};

// Starts edgekeyctl with `args` and `env` (NAME=value entries; the test's
// own environment is inherited minus EDGEKEY_CONFIG). `stdin_text` is fed
// to its standard input, which then closes.
Proc start_ctl(const std::vector<std::string> &args, const std::vector<std::string> &env = {},
               const std::string &stdin_text = "");
// Reads both outputs to the end and waits for the exit.
RunResult finish(Proc p);
// Finishes each of `procs` (edgekeyctl --json commands that print a new
// key), each of which must exit 0: the keys they printed, id -> token.
std::map<std::string, std::string> finish_all_printing_keys(std::vector<Proc> &procs);
RunResult run_ctl(const std::vector<std::string> &args, const std::vector<std::string> &env = {},
                  const std::string &stdin_text = "");

// `edgekeyctl <cmd> --help` exits 0 and prints each of `texts`.
::testing::AssertionResult help_prints(std::vector<std::string> cmd, const std::vector<std::string> &texts);

std::string read_file(const std::string &path);
void write_file(const std::string &path, const std::string &text);
bool file_exists(const std::string &path);

// Lowercase hex of SHA-256(data), and of HMAC-SHA-256(key, data), by OpenSSL
// directly (independent of the code under test).
std::string sha256_hex(const std::string &data);
std::string hmac_sha256_hex(const std::string &key, const std::string &data);

// The value after "label:" on the line starting with it ("" if none).
std::string labelled(const std::string &text, const std::string &label);
// How many times `needle` occurs in `hay`.
size_t count_of(const std::string &hay, const std::string &needle);

// A temporary directory with edgekey.yaml (socket ek.sock and keyset
// keys.yaml inside it); removed with everything in it on destruction.
class Scratch {
 public:
  // `extra` is appended to the default config (region in-mum, file upstream).
  // A non-empty `upstream` (a whole `upstream:` YAML block, e.g.
  // NatsTopology::upstream_yaml) replaces the file upstream.
  explicit Scratch(const std::string &extra = "", std::string upstream = "");
  ~Scratch();
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;

  const std::string &dir() const { return dir_; }
  std::string config() const { return dir_ + "/edgekey.yaml"; }
  std::string keyset() const { return dir_ + "/keys.yaml"; }
  std::string socket() const { return dir_ + "/ek.sock"; }
  // Rewrites edgekey.yaml: the defaults plus `extra`.
  void write_config(const std::string &extra) const;

  // edgekeyctl --config <config> args…
  RunResult ctl(std::vector<std::string> args, const std::string &stdin_text = "") const;
  Proc start(std::vector<std::string> args) const;
  // The keyset's records (fails the test if the file does not parse cleanly).
  std::vector<sync::KeyRecord> records() const;
  // Every file of the directory, concatenated.
  std::string all_files() const;

 private:
  std::string dir_;
  std::string upstream_;
};

}  // namespace edgekey::ctl::test
