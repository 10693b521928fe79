#include "daemon/edgekeyd/log.hpp"

#include <atomic>
#include <cstdio>

namespace edgekey::daemon {

namespace {
std::atomic<Severity> g_threshold{Severity::Info};
}

void set_log_severity(Severity threshold) { g_threshold = threshold; }

bool log_enabled(Severity level) { return level >= g_threshold.load(std::memory_order_relaxed); }

void log(Severity level, const char *fmt, ...) {
  if (!log_enabled(level)) return;
  char line[2048];
  int n = snprintf(line, sizeof line, "<%d>", sync::syslog_priority(level));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - size_t(n), fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

}  // namespace edgekey::daemon
