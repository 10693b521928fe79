#include "daemon/ctl/cli.hpp"

#include "daemon/config/duration.hpp"
#include "daemon/ctl/daemon_commands.hpp"
#include "daemon/ctl/errors.hpp"
#include "daemon/ctl/key_commands.hpp"
#include "daemon/ctl/nats_commands.hpp"
#include "daemon/ctl/new_key.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <iostream>

namespace edgekey::ctl {
namespace {

constexpr const char *kDefaultConfig = "/etc/edgekey/edgekey.yaml";

// Repeatable one-value option: `--scope a --scope b`.
CLI::Option *add_list(CLI::App *app, const std::string &name, std::vector<std::string> &into, const std::string &help) {
  return app->add_option(name, into, help)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

std::chrono::milliseconds timeout_of(const std::string &text) {
  const auto d = daemon::parse_duration(text);
  if (!d || d->count() <= 0 || d->count() > 3'600'000)
    throw CtlError(kExitUsage, "--timeout " + sync::quote_for_error(text) + ": expected a duration from 1ms to 1h, "
                                                                             "such as 500ms or 5s");
  return *d;
}

// The token for `validate`: the argument, or one line of stdin for "-" (which
// keeps the token out of the process list and shell history).
std::string token_of(const std::string &arg) {
  if (arg != "-") return arg;
  std::string line;
  if (!std::getline(std::cin, line) || line.empty())
    throw CtlError(kExitUsage, "validate -: expected the token on the first line of standard input");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int run_cli(int argc, const char *const *argv, std::ostream &out, std::ostream &err) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is an error we report, not a silent death

  CLI::App app{"edgekeyctl: manage edgekey API keys and ask the running edgekeyd about them", "edgekeyctl"};
  app.footer(std::string(kExitCodesHelp) +
             "\nThe config file is --config, else $EDGEKEY_CONFIG, else " + kDefaultConfig + ".");
  app.fallthrough();  // --config / --json are accepted after the subcommand too
  app.require_subcommand(1);
  app.set_version_flag("--version", "edgekeyctl 0.1.0");
  app.failure_message([](const CLI::App *, const CLI::Error &e) {
    return "edgekeyctl: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });

  std::string config_path = kDefaultConfig;
  bool json = false;
  app.add_option("-c,--config", config_path, "edgekey.yaml to use")->envname("EDGEKEY_CONFIG")->capture_default_str();
  app.add_flag("--json", json, "print results as JSON (one document on stdout)");

  // keys …
  CLI::App *keys = app.add_subcommand("keys", "create, list, show, revoke and rotate keys in the configured upstream");
  keys->require_subcommand(1);

  CreateArgs create_args;
  CLI::App *create = keys->add_subcommand(
      "create", "create a key and print its id and token (the token is shown once and never stored)");
  create->add_option("--workspace", create_args.workspace, "workspace the key belongs to (e.g. ws_solar)")->required();
  create->add_option("--type", create_args.type, "secret (server side) or publishable (browser, needs --allow-origin)")
      ->required()->check(CLI::IsMember({"secret", "publishable"}));
  create->add_option("--env", create_args.env, "live or test")->required()->check(CLI::IsMember({"live", "test"}));
  create->add_option("--role", create_args.role, "a role defined in the config (roles:)")->required();
  add_list(create, "--scope", create_args.scopes, "extra permission on top of the role's (repeatable)");
  add_list(create, "--region", create_args.regions, "region where the key works (repeatable; none = every region)");
  add_list(create, "--allow-origin", create_args.origins, "allowed Origin, scheme://host[:port] (repeatable)");
  add_list(create, "--allow-cidr", create_args.cidrs, "allowed client network, IPv4/IPv6 CIDR (repeatable)");
  create->add_option("--expires", create_args.expires,
                     "expiry: a duration from now (90d, 24h), an RFC 3339 time or a UTC date (2027-01-31)");
  create->add_option("--name", create_args.name, "free-text label (e.g. \"CI pipeline\")");

  ListArgs list_args;
  CLI::App *list = keys->add_subcommand("list", "list keys (active ones unless --all)");
  list->add_option("--workspace", list_args.workspace, "only this workspace's keys");
  list->add_flag("--all", list_args.all, "include revoked and expired keys");
  list->add_option("--unused-since", list_args.unused_since,
                   "only keys not used on this host for DURATION (e.g. 90d; a key never used: since its creation)");

  std::string show_id;
  CLI::App *show = keys->add_subcommand("show", "show a key's record (never a token)");
  show->add_option("id", show_id, "key id (key_…)")->required();

  std::string revoke_id;
  CLI::App *revoke = keys->add_subcommand("revoke", "revoke a key (everywhere, within about a second)");
  revoke->add_option("id", revoke_id, "key id (key_…)")->required();

  RotateArgs rotate_args;
  CLI::App *rotate = keys->add_subcommand(
      "rotate", "replace a key: print a new key's id and token; the old key works until the grace period ends");
  rotate->add_option("id", rotate_args.id, "key id of the key to replace")->required();
  rotate->add_option("--grace", rotate_args.grace, "how long the old key keeps working (e.g. 24h; 0s = stop now)")
      ->required();
  rotate->add_option("--expires", rotate_args.expires, "expiry of the new key (as for keys create); default never");

  // nats …
  CLI::App *nats = app.add_subcommand(
      "nats", "set up the NATS JetStream upstream (upstream.nats): the origin bucket and a region's mirror");
  nats->require_subcommand(1);
  CLI::App *init_origin = nats->add_subcommand(
      "init-origin", "create the origin key-value bucket (upstream.nats.bucket in upstream.nats.origin_domain); "
                     "a second run changes nothing");
  std::string region_domain;
  CLI::App *init_region = nats->add_subcommand(
      "init-region", "create a region's mirror of the origin bucket (upstream.nats.stream in the region's "
                     "domain); a second run changes nothing");
  init_region->add_option("domain", region_domain,
                          "the region's JetStream domain (default: upstream.nats.domain, this host's region)");
  int region_replicas = 0;
  init_region->add_option("--replicas", region_replicas,
                          "servers of the region's cluster holding the mirror (3 in a 3-node cluster; default: 1 "
                          "for a new mirror, an existing one keeps its count, another count scales it)")
      ->check(CLI::Range(1, 5));

  // validate / status
  ValidateArgs validate_args;
  std::string token_arg, timeout_text = "5s";
  CLI::App *validate = app.add_subcommand("validate", "ask edgekeyd whether a token is accepted (exit 0) or refused (exit 1)");
  validate->add_option("token", token_arg, "the token, or - to read it from standard input")->required();
  validate->add_option("--permission", validate_args.permission, "permission the operation needs (e.g. agents:deploy)");
  validate->add_option("--ip", validate_args.ip, "client IP address (sent as X-Real-IP)");
  validate->add_option("--origin", validate_args.origin, "request Origin (e.g. https://app.example.com)");
  validate->add_option("--env", validate_args.env, "accept only keys of this env")->check(CLI::IsMember({"live", "test"}));
  validate->add_option("--timeout", timeout_text, "how long to wait for edgekeyd")->capture_default_str();

  CLI::App *status = app.add_subcommand("status", "show edgekeyd's table, upstream and freshness");
  status->add_option("--timeout", timeout_text, "how long to wait for edgekeyd")->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    const int rc = app.exit(e, out, err);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    daemon::Config cfg;
    try {
      cfg = daemon::load_config(config_path);
    } catch (const daemon::ConfigError &e) {
      std::error_code ec;
      const bool missing = !std::filesystem::exists(config_path, ec);
      throw CtlError(kExitUsage, std::string(e.what()) +
                                     (missing ? " (pass --config FILE or set EDGEKEY_CONFIG)" : ""));
    }
    const Context ctx{cfg, json, out, err, int64_t(std::time(nullptr))};
    int rc = kExitOk;
    if (validate->parsed()) {
      validate_args.token = token_of(token_arg);
      validate_args.timeout = timeout_of(timeout_text);
      rc = validate_key(ctx, validate_args);
    } else if (status->parsed()) {
      rc = daemon_status(ctx, timeout_of(timeout_text));
    } else if (init_origin->parsed()) {
      rc = nats_init_origin(ctx);
    } else if (init_region->parsed()) {
      rc = nats_init_region(ctx, region_domain, region_replicas);
    } else {
      const auto store = open_key_store(cfg);
      if (create->parsed())
        rc = keys_create(ctx, *store, create_args);
      else if (list->parsed())
        rc = keys_list(ctx, *store, list_args);
      else if (show->parsed())
        rc = keys_show(ctx, *store, show_id);
      else if (revoke->parsed())
        rc = keys_revoke(ctx, *store, revoke_id);
      else if (rotate->parsed())
        rc = keys_rotate(ctx, *store, rotate_args);
    }
    if (!out.flush()) throw CtlError(kExitUsage, "cannot write to standard output");
    return rc;
  } catch (const CtlError &e) {
    err << "edgekeyctl: " << e.what() << '\n';
    return e.code;
  } catch (const std::exception &e) {
    err << "edgekeyctl: " << e.what() << '\n';
    return kExitUsage;
  }
}

}  // namespace edgekey::ctl
