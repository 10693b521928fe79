// log.hpp -- edgekeyd's log: one line per event on stderr, with the sd-daemon
// level prefix ("<3>" ... "<7>") journald turns into a priority. Never pass a
// token here: key ids and hash prefixes only.
#pragma once

#include <cstdarg>
#include <string_view>

namespace edgekey::daemon {

enum class Severity { Debug = 7, Info = 6, Warn = 4, Error = 3 };

void set_log_severity(Severity level);

bool log_enabled(Severity level);
void log(Severity level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace edgekey::daemon
