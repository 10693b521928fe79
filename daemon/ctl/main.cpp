// edgekeyctl [--config FILE] [--json] <command>: manages API keys in the
// configured upstream and asks the running edgekeyd about keys.
// Exit codes: see errors.hpp (printed in every --help).
#include "daemon/ctl/cli.hpp"
#include "sync/upstream/nats/nats_client.hpp"

#include <chrono>
#include <iostream>

int main(int argc, char **argv) {
  const int rc = edgekey::ctl::run_cli(argc, argv, std::cout, std::cerr);
  // A NATS command destroyed its connection; libnats's threads still free it
  // (and its TLS context) after that, and must be done before exit runs
  // OpenSSL's cleanup (as in edgekeyd's main). Bounded; nothing to wait for
  // when no command used NATS.
  const std::string held = edgekey::sync::nats_close_and_wait(std::chrono::seconds(2));
  if (!held.empty()) std::cerr << "edgekeyctl: at exit: " << held << "; exiting anyway\n";
  return rc;
}
