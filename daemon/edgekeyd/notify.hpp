// notify.hpp -- the systemd service protocol (sd_notify): READY=1 after the
// first complete load, WATCHDOG=1 from a loop timer at half of WatchdogSec,
// STATUS= lines. Does nothing when not started by systemd (no NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <string>

namespace edgekey::daemon {

class Notifier {
 public:
  Notifier();
  void ready(const std::string &status);
  void status(const std::string &status);
  void reloading();
  void stopping();
  void watchdog();
  // Half of WatchdogSec when systemd asked for a watchdog, else zero.
  std::chrono::microseconds watchdog_interval() const { return watchdog_interval_; }

 private:
  std::chrono::microseconds watchdog_interval_{0};
};

}  // namespace edgekey::daemon
