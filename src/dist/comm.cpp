#include "dist/comm.h"

#include <mpi.h>
#include "core/torch_api.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/check.h"

namespace zt::dist {

const char* collective_name(Collective kind) {
  switch (kind) {
    case Collective::kAllReduce: return "all_reduce";
    case Collective::kReduceScatter: return "reduce_scatter";
    case Collective::kAllGather: return "all_gather";
    case Collective::kBroadcast: return "broadcast";
    case Collective::kAllToAll: return "all_to_all";
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

WorkPtr Communicator::all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                                 const std::vector<int64_t>& recv_counts) {
  check_flat(input, "all_to_all input");
  check_flat(output, "all_to_all output");
  ZT_CHECK(static_cast<int>(send_counts.size()) == size_ && static_cast<int>(recv_counts.size()) == size_,
           "all_to_all: " << send_counts.size() << " send and " << recv_counts.size() << " receive counts for "
                          << size_ << " ranks");
  ZT_CHECK(sum_of(send_counts) == input.numel() && sum_of(recv_counts) == output.numel(),
           "all_to_all: the counts do not add up to the buffers");
  ZT_CHECK(input.scalar_type() == output.scalar_type(), "all_to_all: input and output differ in dtype");
  count(Collective::kAllToAll,
        static_cast<double>((sum_of(send_counts) - send_counts[static_cast<size_t>(rank_)]) * input.element_size()));
  return do_all_to_all(input, output, send_counts, recv_counts);
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

at::Tensor Communicator::control_slots(int64_t n) {
  if (!control_.defined() || control_.numel() < n)
    control_ = at::empty({std::max<int64_t>(n, 64)}, at::TensorOptions().dtype(at::kLong).device(device()));
  return control_.narrow(0, 0, n);
}

void control_point(const char* what, int rank) {
  struct Target {
    int rank = -1;
    long long number = 0;
    bool hang = false;
  };
  static const Target target = [] {
    Target t;
    const char* text = std::getenv("ZTUNE_TEST_FAIL_AT");
    char mode[8] = {0};
    const int fields = text != nullptr ? std::sscanf(text, "%d:%lld:%7s", &t.rank, &t.number, mode) : 0;
    if (fields < 2) t.rank = -1;
    t.hang = fields == 3 && std::string(mode) == "hang";
    return t;
  }();
  static std::atomic<int64_t> count{0};
  const int64_t number = ++count;
  if (target.rank < 0 || process_identity().rank != target.rank || number != target.number) return;
  if (target.hang)  // a rank that is alive but never arrives: the others must time out naming it
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  ZT_SYSTEM_THROW("rank " << rank << ": injected failure at control-plane operation " << number << " (" << what
                          << "; ZTUNE_TEST_FAIL_AT)");
}

void Communicator::barrier() {
  control_point("barrier", rank_);
  do_barrier();
}

std::vector<uint64_t> Communicator::all_gather_values(const std::vector<uint64_t>& mine) {
  control_point("all_gather_values", rank_);
  return do_all_gather_values(mine);
}

std::string Communicator::broadcast_text(const std::string& text, int root) {
  control_point("broadcast_text", rank_);
  return do_broadcast_text(text, root);
}

std::vector<uint64_t> Communicator::do_all_gather_values(const std::vector<uint64_t>& mine) {
  const CommStats training = stats_;
  const int64_t n = static_cast<int64_t>(mine.size());
  // How many each rank brings, then the values.
  at::Tensor lengths = control_slots(size_ + 1);
  at::Tensor my_length = lengths.narrow(0, size_, 1);
  my_length.fill_(n);
  at::Tensor all_lengths = lengths.narrow(0, 0, size_);
  all_gather(my_length, all_lengths, std::vector<int64_t>(static_cast<size_t>(size_), 1))->wait();
  const at::Tensor host_lengths = all_lengths.to(at::kCPU);
  std::vector<int64_t> counts(host_lengths.const_data_ptr<int64_t>(), host_lengths.const_data_ptr<int64_t>() + size_);
  const int64_t total = sum_of(counts);
  at::Tensor slots = control_slots(total + n);
  at::Tensor everyone = slots.narrow(0, 0, total), own = slots.narrow(0, total, n);
  if (n > 0)
    own.copy_(at::from_blob(const_cast<uint64_t*>(mine.data()), {n}, at::kLong));
  all_gather(own, everyone, counts)->wait();
  const at::Tensor host = everyone.to(at::kCPU);
  stats_ = training;
  const auto* values = reinterpret_cast<const uint64_t*>(host.const_data_ptr<int64_t>());
  return std::vector<uint64_t>(values, values + total);
}

std::string Communicator::do_broadcast_text(const std::string& text, int root) {
  const CommStats training = stats_;
  at::Tensor length = control_slots(1);
  length.fill_(static_cast<int64_t>(text.size()));
  broadcast(length, root)->wait();
  const int64_t bytes = length.item<int64_t>(), words = (bytes + 7) / 8;
  std::string out(static_cast<size_t>(words * 8), '\0');
  at::Tensor slots = control_slots(words);
  if (rank_ == root && words > 0) {
    std::memcpy(out.data(), text.data(), text.size());
    slots.copy_(at::from_blob(out.data(), {words}, at::kLong));
  }
  if (words > 0) {
    broadcast(slots, root)->wait();
    const at::Tensor host = slots.to(at::kCPU);
    std::memcpy(out.data(), host.const_data_ptr<int64_t>(), static_cast<size_t>(words * 8));
  }
  out.resize(static_cast<size_t>(bytes));
  stats_ = training;
  return out;
}

namespace {

// One process: nothing to exchange, on whatever device the tensors are (no NCCL start-up for one GPU).
class SingleCommunicator : public Communicator {
 public:
  explicit SingleCommunicator(c10::Device device) : Communicator(0, 1), device_(device) {}
  std::string backend() const override { return "single"; }
  c10::Device device() const override { return device_; }
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<SingleCommunicator>(device_); }
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<SingleCommunicator>(device_); }

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
  WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>&,
                        const std::vector<int64_t>&) override {
    if (output.data_ptr() != input.data_ptr()) output.copy_(input);
    return finished_work();
  }
  void do_barrier() override {}

 private:
  c10::Device device_;
};

}  // namespace

std::unique_ptr<Communicator> make_single_communicator(c10::Device device) {
  return std::make_unique<SingleCommunicator>(device);
}

#ifndef ZTUNE_WITH_CUDA
std::unique_ptr<Communicator> make_nccl_communicator(const LaunchEnv&, c10::Device) {
  ZT_THROW("this ztune was built without CUDA/NCCL (ZTUNE_CUDA=OFF); rebuild with the CUDA toolkit to train on GPUs");
}
#endif

std::unique_ptr<Communicator> make_communicator(const LaunchEnv& env, c10::Device device, bool staged) {
  if (device.is_cuda() && !staged)
    return env.world_size == 1 ? make_single_communicator(device) : make_nccl_communicator(env, device);
  int initialized = 0;
  MPI_Initialized(&initialized);
  std::unique_ptr<Communicator> host = initialized          ? make_mpi_communicator()
                                       : env.world_size > 1 ? make_store_communicator(env)
                                                            : make_single_communicator();
  return staged ? make_staged_communicator(std::move(host), device) : std::move(host);
}

}  // namespace zt::dist
