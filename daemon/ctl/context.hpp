// context.hpp -- what every edgekeyctl command runs with.
#pragma once

#include "daemon/config/config.hpp"

#include <cstdint>
#include <ostream>

namespace edgekey::ctl {

struct Context {
  const daemon::Config &cfg;
  bool json = false;  // --json: machine-readable stdout
  std::ostream &out;  // results
  std::ostream &err;  // notes and warnings (never results)
  int64_t now = 0;    // unix seconds, read once per command
};

}  // namespace edgekey::ctl
