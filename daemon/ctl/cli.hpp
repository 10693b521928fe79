// cli.hpp -- edgekeyctl's command line: parsing (CLI11), loading the config,
// dispatching to a command, and turning failures into exit codes.
#pragma once

#include <ostream>

namespace edgekey::ctl {

// Runs edgekeyctl with `argv` (argv[0] is the program name). Results go to
// `out`, errors as one "edgekeyctl: …" line to `err`. Returns the exit code
// (errors.hpp). Never throws.
int run_cli(int argc, const char *const *argv, std::ostream &out, std::ostream &err);

}  // namespace edgekey::ctl
