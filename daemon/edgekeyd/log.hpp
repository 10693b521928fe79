// log.hpp -- edgekeyd's log: one line per event on stderr, with the sd-daemon
// level prefix ("<3>" ... "<7>") journald turns into a priority. Never pass a
// token here: key ids and hash prefixes only.
#pragma once

#include "sync/upstream/severity.hpp"

#include <cstdarg>
#include <string_view>

namespace edgekey::daemon {

using sync::Severity;

// Lines below `threshold` are dropped (edgekey.yaml's log_level).
void set_log_severity(Severity threshold);

bool log_enabled(Severity level);
void log(Severity level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace edgekey::daemon
