// The start-up link check: bus bandwidth of a short all-reduce and all-gather among the ranks of each node
// (intra-node) and among the ranks of the same local rank on different nodes (inter-node), before step 1, so
// that a multi-node run on a slow network says so instead of quietly running as fast as one node.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "dist/launch.h"

namespace zt::dist {

struct LinkRate {
  std::string link;          // "intra-node" or "inter-node"
  int ranks = 0;             // ranks per group of that link
  double all_reduce_gbps = 0;  // bus bandwidth (nccl-tests' busbw), GB/s, the slowest group's
  double all_gather_gbps = 0;
};

struct LinkReport {
  std::vector<LinkRate> links;  // only the link classes this layout has (one node: no inter-node)
  std::string summary;          // one line for the log
  std::string warning;          // empty, or why the inter-node links will slow the run
};

// Collective call on every rank of `comm`. `bytes` is each rank's buffer (the all-gather's output);
// `step_bytes` what one step sends per rank (for the warning's estimate of the time a step waits).
LinkReport probe_links(Communicator& comm, const LaunchEnv& env, int64_t bytes, double step_bytes);

// The buffer size the check uses on `device`: ZTUNE_LINK_PROBE_MB when set, else 64 MiB on GPUs and 2 MiB on
// the CPU; 0 (ZTUNE_LINK_PROBE_MB=0) turns the check off.
int64_t link_probe_bytes(c10::Device device);

}  // namespace zt::dist
