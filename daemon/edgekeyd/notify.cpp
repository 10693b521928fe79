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
// Only when systemd asked for one: every datagram to a NOTIFY_SOCKET that
// nobody reads fills it, and sd_notify then blocks the loop.
void Notifier::watchdog() {
  if (watchdog_interval_.count() > 0) sd_notify(0, "WATCHDOG=1");
}

}  // namespace edgekey::daemon
