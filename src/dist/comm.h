// Collectives over flat buffers behind one small interface: a single process, MPI (CPU tensors), the
// rendezvous store (CPU ranks without MPI, src/dist/comm_store.cpp) and NCCL (CUDA tensors,
// src/dist/comm_nccl_cuda.cpp).
//
// Every operation sums (reductions) and works on contiguous 1-D tensors of fp32 or bf16 (plus int64 and
// fp64 for the all-reduce of counters and norms). Operations return a Work handle; MPI and NCCL start them
// without blocking so that backward keeps running while buckets travel; wait() finishes them.
//
// Bytes are counted per collective kind as the bytes this rank sends under the bandwidth-optimal (ring)
// algorithm, the accounting of the ZeRO paper and nccl-tests: all-reduce 2(N-1)/N x size, reduce-scatter
// and all-gather (N-1)/N x the full buffer, broadcast (N-1)/N x size, all-to-all the pieces sent to other ranks.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/launch.h"

namespace zt::dist {

enum class Collective { kAllReduce, kReduceScatter, kAllGather, kBroadcast, kAllToAll, kCount };
const char* collective_name(Collective kind);

struct CommStats {
  std::array<double, static_cast<size_t>(Collective::kCount)> bytes{};  // sent by this rank, ring model
  std::array<int64_t, static_cast<size_t>(Collective::kCount)> calls{};
  double total_bytes() const;
  void reset() { *this = CommStats{}; }
};

// A started collective; wait() blocks until its output is ready (and is a no-op the second time).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;  // "single", "mpi", "store", "nccl"
  // Where its buffers live: CPU, or the GPU of an NCCL communicator.
  virtual c10::Device device() const { return c10::kCPU; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // In place: buffer = sum over ranks of buffer.
  WorkPtr all_reduce(at::Tensor& buffer);
  // input holds every rank's piece back to back (counts[r] elements for rank r); output (counts[rank])
  // receives the sum of everyone's piece for this rank. Counts may differ and may be zero.
  WorkPtr reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts);
  // The inverse: input (counts[rank]) from each rank lands at its offset in output (sum of counts).
  WorkPtr all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts);
  // In place from `root`.
  WorkPtr broadcast(at::Tensor& buffer, int root);
  // Each rank's input holds a piece for every rank back to back (send_counts[r] elements for rank r); output
  // receives every rank's piece for this one, in rank order (recv_counts[r] from rank r). recv_counts must be
  // what the others send here. Counts may differ and may be zero. (Expert parallelism's token exchange.)
  WorkPtr all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                     const std::vector<int64_t>& recv_counts);
  // A communicator over the same ranks whose collectives are ordered independently of this one's
  // (collective call on every rank).
  virtual std::unique_ptr<Communicator> duplicate() = 0;
  // The ranks that pass the same `color`, as a communicator of their own, ranked by `key` then by rank here
  // (MPI_Comm_split's meaning; collective call on every rank). The node's ranks, or one rank per node.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // ---- the host control plane: small values every rank needs (the run folder, row counts, checkpoint
  // CRCs, the bad-row summary) and barriers. By default through the collectives above, staged through one
  // buffer on device() that is kept between calls; the MPI communicator uses messages through rank 0, so
  // that a timeout names the ranks that did not arrive. Every wait ends after collective_timeout_s() with an
  // error naming this rank. Not counted in stats() (the training traffic).
  // Every rank arrives before any leaves.
  void barrier();
  // Every rank's values, concatenated in rank order (each rank may bring a different number).
  std::vector<uint64_t> all_gather_values(const std::vector<uint64_t>& mine);
  // `text` as rank `root` has it.
  std::string broadcast_text(const std::string& text, int root);

  const CommStats& stats() const { return stats_; }
  CommStats& stats() { return stats_; }

 protected:
  Communicator(int rank, int size) : rank_(rank), size_(size) {}
  virtual WorkPtr do_all_reduce(at::Tensor& buffer) = 0;
  virtual WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output,
                                    const std::vector<int64_t>& counts) = 0;
  virtual WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) = 0;
  virtual WorkPtr do_broadcast(at::Tensor& buffer, int root) = 0;
  virtual WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                                const std::vector<int64_t>& recv_counts) = 0;
  virtual void do_barrier() = 0;
  virtual std::vector<uint64_t> do_all_gather_values(const std::vector<uint64_t>& mine);
  virtual std::string do_broadcast_text(const std::string& text, int root);

 private:
  void count(Collective kind, double bytes);
  // `n` int64 slots of the control buffer on device(), which grows as needed.
  at::Tensor control_slots(int64_t n);
  int rank_, size_;
  CommStats stats_;
  at::Tensor control_;
};

// The communicator for this process: NCCL when `device` is CUDA and there are several ranks (one rank on
// one GPU exchanges nothing and starts no NCCL), else MPI when MPI is initialized, else the rendezvous store
// when there are several ranks, else a single process. `staged`: the host one of those wrapped by
// make_staged_communicator (several ranks sharing a GPU).
std::unique_ptr<Communicator> make_communicator(const LaunchEnv& env, c10::Device device, bool staged = false);
// World size 1; its control buffer lives on `device`.
std::unique_ptr<Communicator> make_single_communicator(c10::Device device = c10::kCPU);
std::unique_ptr<Communicator> make_mpi_communicator();
// CPU ranks without MPI, meeting at MASTER_ADDR:MASTER_PORT (c10d::TCPStore, served by rank 0 or by
// torchrun's agent).
std::unique_ptr<Communicator> make_store_communicator(const LaunchEnv& env);
// NCCL on `device` (cuda:N): the unique id goes out by MPI_Bcast when MPI is up, else through the
// rendezvous store at MASTER_ADDR:MASTER_PORT (torchrun, srun without PMI). Throws when built without CUDA.
std::unique_ptr<Communicator> make_nccl_communicator(const LaunchEnv& env, c10::Device device);

// Collectives on `device` staged through pinned host memory and `host` (MPI or the store): several ranks
// on one GPU, for validation only (ZTUNE_SHARED_GPU=1).
std::unique_ptr<Communicator> make_staged_communicator(std::unique_ptr<Communicator> host, c10::Device device);

// Every wait gives up after this many seconds with an error naming the rank (default 1800; the trainer
// sets it from --ddp_timeout before the run context is made).
void set_collective_timeout(double seconds);
double collective_timeout_s();

// Fault injection for the failure tests (tests/python/check_rank_failures.py): with ZTUNE_TEST_FAIL_AT=R:N,
// rank R throws a SystemError at its N-th control-plane operation (barrier, all_gather_values,
// broadcast_text; counted over every communicator of the process, from 1); with R:N:hang it stops there for
// good instead. Unset in normal runs.
void control_point(const char* what, int rank);

// A Work that is already finished.
WorkPtr finished_work();

// Calls f(rank, offset, count) for every rank with a non-empty piece of a buffer laid out as `counts`
// (the per-owner form of uneven reduce-scatters and all-gathers).
template <typename F>
void for_each_piece(const std::vector<int64_t>& counts, F f) {
  int64_t offset = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (counts[r] > 0) f(static_cast<int>(r), offset, counts[r]);
    offset += counts[r];
  }
}

}  // namespace zt::dist
