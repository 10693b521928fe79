// edgekeyd --config FILE [--check-config]
//
// Exit codes: 0 clean stop or valid config, 1 start-up failure (the message
// names the thing and what to do; with --check-config: a new table that would
// not fit its filesystem), 2 bad command line or config.
#include "daemon/config/config.hpp"
#include "daemon/edgekeyd/daemon.hpp"
#include "daemon/edgekeyd/log.hpp"

#include <CLI/CLI.hpp>

#include "shm/writer/table_writer.hpp"
#include "sync/upstream/nats/nats_client.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  CLI::App app{"edgekeyd: keeps this host's shared API-key table in sync and answers validations on a Unix socket"};
  std::string config_path = "/etc/edgekey/edgekey.yaml";
  bool check_only = false;
  app.add_option("-c,--config", config_path, "edgekey.yaml to run with")->capture_default_str();
  app.add_flag("--check-config", check_only, "validate the config, print a summary and exit");
  app.set_version_flag("--version", "edgekeyd 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // --help and --version exit 0; any other parse error is a bad command
    // line: 2, as for a bad config (the unit's RestartPreventExitStatus=2),
    // not CLI11's own codes (100 and up).
    return app.exit(e) == 0 ? 0 : 2;
  }

  edgekey::daemon::Config cfg;
  try {
    cfg = edgekey::daemon::load_config(config_path);
  } catch (const edgekey::daemon::ConfigError &e) {
    std::fprintf(stderr, "edgekeyd: %s\n", e.what());
    return 2;
  }
  if (check_only) {
    std::printf("%s", edgekey::daemon::describe(cfg).c_str());
    // Whether the table's first generation fits where it is to live: a new
    // table that does not would fail the start (exit 1), so this does too.
    try {
      const auto opts = edgekey::daemon::to_table_options(cfg);
      const auto room = edgekey::shm::TableWriter::first_generation_room(opts);
      const std::string control = edgekey::shm::TableWriter::control_path(opts);
      if (!room.fits && access(control.c_str(), F_OK) == 0) {
        std::printf("table: %s exists; edgekeyd re-attaches to it, but cannot rebuild it: %s\n", control.c_str(),
                    room.line.c_str());
        return 0;
      }
      std::printf("table: %s\n", room.line.c_str());
      return room.fits ? 0 : 1;
    } catch (const std::exception &e) {
      std::printf("table: %s\n", e.what());
      return 1;
    }
  }
  int rc = 1;
  try {
    edgekey::daemon::Daemon d(config_path, std::move(cfg));
    rc = d.run();
  } catch (const std::exception &e) {
    edgekey::daemon::log(edgekey::daemon::Severity::Error, "edgekeyd cannot start: %s", e.what());
  }
  // The daemon destroyed every NATS connection and subscription; libnats's
  // threads still free them (and their TLS contexts) after that. They must be
  // done before exit runs OpenSSL's cleanup. Bounded: a connection still held
  // is reported, not waited for.
  const std::string held = edgekey::sync::nats_close_and_wait(std::chrono::seconds(2));
  if (!held.empty()) edgekey::daemon::log(edgekey::daemon::Severity::Warn, "at exit: %s; exiting anyway", held.c_str());
  return rc;
}
