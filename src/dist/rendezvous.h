// A TCP rendezvous for starting NCCL without MPI (srun without PMI): rank 0 listens on MASTER_PORT and
// hands a blob (the ncclUniqueId) to each of the other ranks, which connect to MASTER_ADDR.
#pragma once

#include <string>

namespace zt::dist {

// Rank 0 sends `blob` to world_size - 1 peers and returns it; other ranks return what they received.
// Retries connecting until `timeout_s`, then fails naming the address.
std::string tcp_share_blob(const std::string& blob, int rank, int world_size, const std::string& address, int port,
                           double timeout_s);

}  // namespace zt::dist
