// Preemption (Slurm sends SIGTERM, or SIGUSR1 with --signal): the handler only records the signal; the
// trainer checks at each step boundary, saves a checkpoint and exits cleanly.
#pragma once

namespace zt::train {

// Installs handlers for SIGTERM and SIGUSR1 (system calls restart, nothing else happens in the handler).
void install_stop_handlers();
// The signal received since install_stop_handlers(), or 0.
int stop_requested();
const char* signal_name(int signal);

}  // namespace zt::train
