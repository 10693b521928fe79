#include "daemon/edgekeyd/notify.hpp"

#include <systemd/sd-daemon.h>

namespace edgekey::daemon {

Notifier::Notifier() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_interval_ = std::chrono::microseconds(usec / 2);
}

void Notifier::ready(const std::string &status) {
  sd_notifyf(0, "READY=1\nSTATUS=%s", status.c_str());
}
void Notifier::status(const std::string &status) { sd_notifyf(0, "STATUS=%s", status.c_str()); }
void Notifier::reloading() { sd_notify(0, "RELOADING=1"); }
void Notifier::stopping() { sd_notify(0, "STOPPING=1"); }
void Notifier::watchdog() { sd_notify(0, "WATCHDOG=1"); }

}  // namespace edgekey::daemon
