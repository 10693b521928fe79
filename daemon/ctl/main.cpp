// edgekeyctl [--config FILE] [--json] <command>: manages API keys in the
// configured upstream and asks the running edgekeyd about keys.
// Exit codes: see errors.hpp (printed in every --help).
#include "daemon/ctl/cli.hpp"

#include <iostream>

int main(int argc, char **argv) { return edgekey::ctl::run_cli(argc, argv, std::cout, std::cerr); }
