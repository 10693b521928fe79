#include "daemon/edgekeyd/log.hpp"

#include <atomic>
#include <cstdio>

namespace edgekey::daemon {

namespace {
std::atomic<int> g_level{int(Severity::Info)};
}

void set_log_severity(Severity level) { g_level = int(level); }

bool log_enabled(Severity level) { return int(level) <= g_level.load(std::memory_order_relaxed); }

void log(Severity level, const char *fmt, ...) {
  if (!log_enabled(level)) return;
  char line[2048];
  int n = snprintf(line, sizeof line, "<%d>", int(level));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - size_t(n), fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

}  // namespace edgekey::daemon
