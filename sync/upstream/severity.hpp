// severity.hpp -- how serious a log line is: one scale for the lines the sync
// sources hand their owner (FileSource, NatsSource), edgekeyd's log and
// edgekey.yaml's log_level, the threshold below which lines are dropped.
#pragma once

#include <cstdint>

namespace edgekey::sync {

// Ordered: a line is logged when its severity is at least the threshold.
enum class Severity : uint8_t { Debug, Info, Warn, Error };

// As edgekey.yaml spells it: "debug", "info", "warn", "error".
constexpr const char *severity_name(Severity s) {
  switch (s) {
    case Severity::Debug: return "debug";
    case Severity::Info: return "info";
    case Severity::Warn: return "warn";
    case Severity::Error: return "error";
  }
  return "info";
}

// The syslog priority of sd-daemon(3)'s "<N>" line prefix, which journald
// turns into the entry's priority: debug 7, info 6, warning 4, err 3.
constexpr int syslog_priority(Severity s) {
  switch (s) {
    case Severity::Debug: return 7;
    case Severity::Info: return 6;
    case Severity::Warn: return 4;
    case Severity::Error: return 3;
  }
  return 6;
}

}  // namespace edgekey::sync
