// The TCP rendezvous store (libtorch's c10d::TCPStore) that ranks launched without MPI meet through:
// rank 0 serves it on MASTER_ADDR:MASTER_PORT, the others connect (torchrun's agent may already serve
// it, then every rank connects). Internal to dist/: include from .cpp files only (it pulls in c10d).
#pragma once

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "dist/launch.h"

namespace zt::dist {

// The store of this job under the key prefix "ztune/". Needs MASTER_ADDR and MASTER_PORT; waits for
// the server up to `timeout_s` and fails naming the address.
c10::intrusive_ptr<c10d::Store> open_rendezvous_store(const LaunchEnv& env, double timeout_s);

// The job's store, opened once (the store communicator's, or NCCL's rendezvous without MPI) and kept for the
// process's lifetime, with the abort hook that sets its "abort" key: the other ranks see it within a second
// (the store communicator between waits, NCCL's watchdog by polling) and stop instead of waiting for the
// collective timeout.
c10::intrusive_ptr<c10d::Store> job_store(const LaunchEnv& env, double timeout_s);
// True once a rank of this job has failed (the abort key is set); false without a job store.
bool job_aborted();

}  // namespace zt::dist
