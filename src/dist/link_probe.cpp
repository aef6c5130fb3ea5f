#include "dist/link_probe.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "core/check.h"

namespace zt::dist {
namespace {

struct Timing {
  double all_reduce_s = 0, all_gather_s = 0;  // per call
};

// Seconds per all-reduce and per all-gather of `bytes` on `part`, after one warm-up call of each; the barrier
// at the end waits for the device too (NCCL's barrier synchronises the stream).
Timing time_collectives(Communicator& part, int64_t bytes, int iterations) {
  const int64_t numel = std::max<int64_t>(part.size(), bytes / 4 / part.size() * part.size());
  at::Tensor buffer = at::ones({numel}, at::TensorOptions().dtype(at::kFloat).device(part.device()));
  at::Tensor gathered = at::empty_like(buffer);
  at::Tensor piece = buffer.narrow(0, 0, numel / part.size()).clone();
  const std::vector<int64_t> counts(static_cast<size_t>(part.size()), numel / part.size());
  using clock = std::chrono::steady_clock;
  Timing timing;
  auto run = [&](auto&& call) {
    call();
    part.barrier();
    const auto start = clock::now();
    for (int i = 0; i < iterations; ++i) call();
    part.barrier();
    return std::chrono::duration<double>(clock::now() - start).count() / iterations;
  };
  timing.all_reduce_s = run([&] { part.all_reduce(buffer)->wait(); });
  timing.all_gather_s = run([&] { part.all_gather(piece, gathered, counts)->wait(); });
  return timing;
}

std::string gbps_text(double gbps) {
  char text[32];
  std::snprintf(text, sizeof text, gbps >= 10 ? "%.0f" : "%.2g", gbps);
  return text;
}

}  // namespace

int64_t link_probe_bytes(c10::Device device) {
  if (const char* text = std::getenv("ZTUNE_LINK_PROBE_MB"); text != nullptr && *text != '\0') {
    char* end = nullptr;
    const double mb = std::strtod(text, &end);
    ZT_REQUIRE(end != text && *end == '\0' && mb >= 0 && mb <= 4096,
               "ZTUNE_LINK_PROBE_MB='" << text << "' is not a size in MiB from 0 (off) to 4096");
    return static_cast<int64_t>(mb * (1 << 20));
  }
  return device.is_cuda() ? (int64_t{64} << 20) : (int64_t{2} << 20);
}

LinkReport probe_links(Communicator& comm, const LaunchEnv& env, int64_t bytes, double step_bytes) {
  ZT_CHECK(env.node_rank >= 0 && env.num_nodes >= 1, "probe_links: the node layout is unknown (node "
                                                         << env.node_rank << " of " << env.num_nodes << ")");
  const int iterations = comm.device().is_cuda() ? 5 : 3;
  LinkReport report;
  struct Class {
    const char* name;
    int color, key;
  };
  const Class classes[] = {{"intra-node", env.node_rank, env.local_rank}, {"inter-node", env.local_rank, env.node_rank}};
  for (const Class& link : classes) {
    std::unique_ptr<Communicator> part = comm.split(link.color, link.key);
    Timing timing;
    const int n = part->size();
    if (n > 1) timing = time_collectives(*part, bytes, iterations);
    // nccl-tests' bus bandwidth: what each link carries in a ring, comparable across group sizes.
    const double ring = n > 1 ? double(n - 1) / n : 0;
    const double all_reduce = n > 1 ? 2 * ring * double(bytes) / timing.all_reduce_s / 1e9 : 0;
    const double all_gather = n > 1 ? ring * double(bytes) / timing.all_gather_s / 1e9 : 0;
    // The slowest group's (and the group sizes) as every rank sees them, in kB/s.
    const std::vector<uint64_t> all = comm.all_gather_values(
        {static_cast<uint64_t>(n), static_cast<uint64_t>(all_reduce * 1e6), static_cast<uint64_t>(all_gather * 1e6)});
    LinkRate rate{link.name, 0, 1e300, 1e300};
    for (size_t r = 0; r + 2 < all.size(); r += 3) {
      if (all[r] < 2) continue;
      rate.ranks = std::max(rate.ranks, static_cast<int>(all[r]));
      rate.all_reduce_gbps = std::min(rate.all_reduce_gbps, std::max(1.0, double(all[r + 1])) / 1e6);
      rate.all_gather_gbps = std::min(rate.all_gather_gbps, std::max(1.0, double(all[r + 2])) / 1e6);
    }
    if (rate.ranks > 1) report.links.push_back(rate);
  }

  report.summary = "links (bus bandwidth, " + std::to_string(bytes >> 20) + " MiB per rank):";
  for (const LinkRate& rate : report.links)
    report.summary += " " + rate.link + " (" + std::to_string(rate.ranks) + " ranks) all-reduce " +
                      gbps_text(rate.all_reduce_gbps) + " GB/s, all-gather " + gbps_text(rate.all_gather_gbps) +
                      " GB/s;";
  if (report.links.empty()) report.summary += " one rank per link class, nothing to measure";
  const auto find = [&](const char* name) -> const LinkRate* {
    for (const LinkRate& rate : report.links)
      if (rate.link == name) return &rate;
    return nullptr;
  };
  const LinkRate* intra = find("intra-node");
  const LinkRate* inter = find("inter-node");
  if (inter != nullptr) {
    const double step_s = step_bytes / (inter->all_reduce_gbps * 1e9);
    const bool far_below = intra != nullptr && inter->all_reduce_gbps * 8 < intra->all_reduce_gbps;
    if (far_below || step_s > 1.0) {
      char text[512];
      std::snprintf(text, sizeof text,
                    "inter-node all-reduce runs at %s GB/s%s%s; each step exchanges about %.0f MB per rank, %.2f s at "
                    "that rate: this run may be no faster on %d nodes than on one (check the network interface: "
                    "NCCL_SOCKET_IFNAME/NCCL_IB_HCA on GPUs, ZTUNE_IFACE with ztune-mpirun)",
                    gbps_text(inter->all_reduce_gbps).c_str(), far_below ? ", far below intra-node " : "",
                    far_below ? (gbps_text(intra->all_reduce_gbps) + " GB/s").c_str() : "", step_bytes / 1e6, step_s,
                    env.num_nodes);
      report.warning = text;
    }
  }
  return report;
}

}  // namespace zt::dist
