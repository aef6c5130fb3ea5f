// Several ranks on one GPU, for validation only: NCCL refuses two ranks on one device, so each collective
// goes device -> pinned host buffer -> a host communicator (MPI, or the rendezvous store) -> device,
// synchronously. ZeRO 0-3 then run on CUDA tensors with `mpirun -np 2..4` (or tests/run_ranks.py) on a
// machine with a single GPU. It is slow by design and says so at start-up.
#include "core/torch_api.h"

#include "core/check.h"
#include "dist/comm.h"

namespace zt::dist {
namespace {

class StagedCommunicator : public Communicator {
 public:
  StagedCommunicator(std::unique_ptr<Communicator> host, c10::Device device)
      : Communicator(host->rank(), host->size()), host_(std::move(host)), device_(device) {}
  std::string backend() const override { return "staged(" + host_->backend() + ")"; }
  c10::Device device() const override { return device_; }
  std::unique_ptr<Communicator> duplicate() override {
    return std::make_unique<StagedCommunicator>(host_->duplicate(), device_);
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<StagedCommunicator>(host_->split(color, key), device_);
  }

 protected:
  void do_barrier() override { host_->barrier(); }
  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    at::Tensor staged = to_host(buffer);
    host_->all_reduce(staged)->wait();
    buffer.copy_(staged);
    return finished_work();
  }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    at::Tensor in = to_host(input), out = host_buffer(output);
    host_->reduce_scatter(in, out, counts)->wait();
    output.copy_(out);
    return finished_work();
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    at::Tensor in = to_host(input), out = host_buffer(output);
    host_->all_gather(in, out, counts)->wait();
    output.copy_(out);
    return finished_work();
  }
  WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& recv_counts) override {
    at::Tensor in = to_host(input), out = host_buffer(output);
    host_->all_to_all(in, out, send_counts, recv_counts)->wait();
    output.copy_(out);
    return finished_work();
  }
  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    at::Tensor staged = to_host(buffer);
    host_->broadcast(staged, root)->wait();
    buffer.copy_(staged);
    return finished_work();
  }

 private:
  at::Tensor host_buffer(const at::Tensor& like) const {
    ZT_CHECK(like.device() == device_, "the staged communicator takes tensors on " << device_ << ", got one on "
                                                                                   << like.device());
    return at::empty(like.sizes(), like.options().device(at::kCPU).pinned_memory(device_.is_cuda()));
  }
  // A blocking copy: the host collective reads it right away.
  at::Tensor to_host(const at::Tensor& t) const {
    at::Tensor staged = host_buffer(t);
    staged.copy_(t);
    return staged;
  }

  std::unique_ptr<Communicator> host_;
  c10::Device device_;
};

}  // namespace

std::unique_ptr<Communicator> make_staged_communicator(std::unique_ptr<Communicator> host, c10::Device device) {
  return std::make_unique<StagedCommunicator>(std::move(host), device);
}

}  // namespace zt::dist
