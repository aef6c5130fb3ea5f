#include "train/stop_signal.h"

#include <csignal>
#include <cstring>

namespace zt::train {
namespace {

volatile std::sig_atomic_t received = 0;

void on_signal(int signal) { received = signal; }

}  // namespace

void install_stop_handlers() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_handler = on_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

int stop_requested() { return received; }

const char* signal_name(int signal) {
  if (signal == SIGTERM) return "SIGTERM";
  if (signal == SIGUSR1) return "SIGUSR1";
  return "a signal";
}

}  // namespace zt::train
