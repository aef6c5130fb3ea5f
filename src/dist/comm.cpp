#include "dist/comm.h"

#include <mpi.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "core/check.h"

namespace zt::dist {

const char* collective_name(Collective kind) {
  switch (kind) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kReduceScatter: return "reduce_scatter";
    case Collective::kAllGather: return "all_gather";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kCount: break;
  }
  return "?";
}

double CommStats::total_bytes() const {
  double total = 0;
  for (double b : bytes) total += b;
  return total;
}

namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
};

void check_flat(const at::Tensor& t, const char* what) {
  ZT_CHECK(t.defined() && t.dim() == 1 && t.is_contiguous(), what << ": a contiguous 1-D tensor is required");
}

int64_t sum_of(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) {
    ZT_CHECK(c >= 0, "negative count in a collective");
    total += c;
  }
  return total;
}

}  // namespace

WorkPtr finished_work() { return std::make_shared<DoneWork>(); }

namespace {
std::atomic<double> g_collective_timeout_s{1800};
}

void set_collective_timeout(double seconds) {
  ZT_REQUIRE(seconds > 0, "the collective timeout must be positive, got " << seconds);
  g_collective_timeout_s = seconds;
}
double collective_timeout_s() { return g_collective_timeout_s; }

void Communicator::count(Collective kind, double bytes) {
  stats_.bytes[static_cast<size_t>(kind)] += bytes;
  stats_.calls[static_cast<size_t>(kind)] += 1;
}

WorkPtr Communicator::all_reduce(at::Tensor& buffer) {
  check_flat(buffer, "all_reduce");
  const double n = size_;
  count(Collective::kAllReduce, 2.0 * (n - 1) / n * static_cast<double>(buffer.nbytes()));
  return do_all_reduce(buffer);
}

WorkPtr Communicator::reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) {
  check_flat(input, "reduce_scatter input");
  check_flat(output, "reduce_scatter output");
  ZT_CHECK(static_cast<int>(counts.size()) == size_, "reduce_scatter needs one count per rank");
  ZT_CHECK(sum_of(counts) == input.numel() && output.numel() == counts[static_cast<size_t>(rank_)],
           "reduce_scatter: counts do not match the buffers");
  ZT_CHECK(input.scalar_type() == output.scalar_type(), "reduce_scatter: dtypes differ");
  const double n = size_;
  count(Collective::kReduceScatter, (n - 1) / n * static_cast<double>(input.nbytes()));
  return do_reduce_scatter(input, output, counts);
}

WorkPtr Communicator::all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) {
  check_flat(input, "all_gather input");
  check_flat(output, "all_gather output");
  ZT_CHECK(static_cast<int>(counts.size()) == size_, "all_gather needs one count per rank");
  ZT_CHECK(sum_of(counts) == output.numel() && input.numel() == counts[static_cast<size_t>(rank_)],
           "all_gather: counts do not match the buffers");
  ZT_CHECK(input.scalar_type() == output.scalar_type(), "all_gather: dtypes differ");
  const double n = size_;
  count(Collective::kAllGather, (n - 1) / n * static_cast<double>(output.nbytes()));
  return do_all_gather(input, output, counts);
}

WorkPtr Communicator::broadcast(at::Tensor& buffer, int root) {
  check_flat(buffer, "broadcast");
  ZT_CHECK(root >= 0 && root < size_, "broadcast root " << root << " out of range");
  const double n = size_;
  count(Collective::kBroadcast, (n - 1) / n * static_cast<double>(buffer.nbytes()));
  return do_broadcast(buffer, root);
}

namespace {

class SingleCommunicator : public Communicator {
 public:
  SingleCommunicator() : Communicator(0, 1) {}
  std::string backend() const override { return "single"; }
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<SingleCommunicator>(); }
  void barrier() override {}

 protected:
  WorkPtr do_all_reduce(at::Tensor&) override { return finished_work(); }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>&) override {
    if (output.data_ptr() != input.data_ptr()) output.copy_(input);
    return finished_work();
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>&) override {
    if (output.data_ptr() != input.data_ptr()) output.copy_(input);
    return finished_work();
  }
  WorkPtr do_broadcast(at::Tensor&, int) override { return finished_work(); }
};

}  // namespace

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

#ifndef ZTUNE_WITH_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const LaunchEnv&) {
  ZT_THROW("this ztune was built without CUDA/NCCL (ZTUNE_CUDA=OFF); rebuild with the CUDA toolkit to train on GPUs");
}
#endif

std::unique_ptr<Communicator> make_communicator(const LaunchEnv& env, const std::string& device) {
  if (device.rfind("cuda", 0) == 0) return make_nccl_communicator(env);
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return make_mpi_communicator();
  ZT_REQUIRE(env.world_size == 1, "a CPU run over " << env.world_size << " ranks needs MPI: launch with mpirun, or "
                                                    "srun with PMI support (--mpi=pmix)");
  return make_single_communicator();
}

}  // namespace zt::dist
