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

}  // namespace zt::dist
