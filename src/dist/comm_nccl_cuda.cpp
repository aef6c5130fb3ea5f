// NCCL communicator for CUDA tensors (compiled only with ZTUNE_CUDA).
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/rendezvous.h"

namespace zt::dist {
namespace {

#define ZT_CUDA(call)                                                                            \
  do {                                                                                           \
    cudaError_t zt_cuda_rc = (call);                                                             \
    ZT_CHECK(zt_cuda_rc == cudaSuccess, #call << ": " << cudaGetErrorString(zt_cuda_rc));        \
  } while (0)
#define ZT_NCCL(call)                                                                            \
  do {                                                                                           \
    ncclResult_t zt_nccl_rc = (call);                                                            \
    ZT_CHECK(zt_nccl_rc == ncclSuccess, #call << ": " << ncclGetErrorString(zt_nccl_rc));        \
  } while (0)

ncclDataType_t nccl_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kLong: return ncclInt64;
    case at::kBFloat16: return ncclBfloat16;
    case at::kHalf: return ncclFloat16;
    default: ZT_THROW("NCCL collectives support fp32, fp64, int64, bf16 and fp16, not " << c10::toString(type));
  }
}

class NcclWork : public Work {
 public:
  NcclWork(ncclComm_t comm, cudaEvent_t done, std::vector<at::Tensor> keep, int rank)
      : comm_(comm), done_(done), keep_(std::move(keep)), rank_(rank) {}
  ~NcclWork() override {
    if (done_ != nullptr) cudaEventDestroy(done_);
  }
  // Polls the completion event; a peer that never arrives shows up as a timeout here, and the
  // communicator is aborted so that no kernel is left spinning.
  void wait() override {
    if (finished_) return;
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      cudaError_t state = cudaEventQuery(done_);
      if (state == cudaSuccess) break;
      ZT_CHECK(state == cudaErrorNotReady, "NCCL collective failed on rank " << rank_ << ": "
                                                                             << cudaGetErrorString(state));
      ncclResult_t async = ncclSuccess;
      ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess) {
        ncclCommAbort(comm_);
        ZT_CHECK(false, "NCCL error on rank " << rank_ << ": " << ncclGetErrorString(async));
      }
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > collective_timeout_s()) {
        ncclCommAbort(comm_);
        ZT_CHECK(false, "NCCL collective on rank " << rank_ << " did not complete within " << collective_timeout_s()
                                                   << " s; a peer rank is stuck or dead");
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    // Later work on torch's stream must see the result.
    ZT_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream().stream(), done_, 0));
    keep_.clear();
    finished_ = true;
  }

 private:
  ncclComm_t comm_;
  cudaEvent_t done_;
  std::vector<at::Tensor> keep_;
  int rank_;
  bool finished_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const LaunchEnv& env) : Communicator(env.rank, env.world_size) {
    int devices = 0;
    ZT_CUDA(cudaGetDeviceCount(&devices));
    ZT_REQUIRE(devices > 0, "NCCL backend: no CUDA device is visible on rank " << env.rank);
    device_ = env.local_rank % devices;
    ZT_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (env.rank == 0) ZT_NCCL(ncclGetUniqueId(&id));
    share_id(env, id);
    ZT_NCCL(ncclCommInitRank(&comm_, env.world_size, id, env.rank));
    ZT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  NcclCommunicator(const NcclCommunicator& parent, ncclComm_t comm)
      : Communicator(parent.rank(), parent.size()), device_(parent.device_), comm_(comm) {
    ZT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  }
  ~NcclCommunicator() override {
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  std::string backend() const override { return "nccl"; }
  std::unique_ptr<Communicator> duplicate() override {
    ncclComm_t split = nullptr;
    ZT_NCCL(ncclCommSplit(comm_, 0, rank(), &split, nullptr));
    return std::unique_ptr<Communicator>(new NcclCommunicator(*this, split));
  }
  void barrier() override {
    at::Tensor token = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, device_));
    all_reduce(token)->wait();
    ZT_CUDA(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream().stream()));
  }

 protected:
  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    return launch({buffer}, [&] {
      ZT_NCCL(ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                            nccl_type(buffer.scalar_type()), ncclSum, comm_, stream_));
    });
  }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts)) {
        ZT_NCCL(ncclReduceScatter(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, ncclSum,
                                  comm_, stream_));
        return;
      }
      // Uneven pieces: one reduce per owner, grouped into a single launch.
      const int64_t element = static_cast<int64_t>(input.element_size());
      ZT_NCCL(ncclGroupStart());
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* from = static_cast<char*>(input.data_ptr()) + offset * element;
        void* into = r == rank() ? output.data_ptr() : nullptr;
        ZT_NCCL(ncclReduce(from, into, static_cast<size_t>(n), type, ncclSum, r, comm_, stream_));
      });
      ZT_NCCL(ncclGroupEnd());
    });
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts)) {
        ZT_NCCL(ncclAllGather(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, comm_,
                              stream_));
        return;
      }
      const int64_t element = static_cast<int64_t>(input.element_size());
      ZT_NCCL(ncclGroupStart());
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* into = static_cast<char*>(output.data_ptr()) + offset * element;
        const void* from = r == rank() ? input.data_ptr() : into;
        ZT_NCCL(ncclBroadcast(from, into, static_cast<size_t>(n), type, r, comm_, stream_));
      });
      ZT_NCCL(ncclGroupEnd());
    });
  }
  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    return launch({buffer}, [&] {
      ZT_NCCL(ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                            nccl_type(buffer.scalar_type()), root, comm_, stream_));
    });
  }

 private:
  static bool equal(const std::vector<int64_t>& counts) {
    for (int64_t c : counts)
      if (c != counts[0]) return false;
    return true;
  }

  // Orders the collective after the work already queued on torch's stream, runs it on the
  // communicator's stream, and returns a handle on its completion.
  template <typename Enqueue>
  WorkPtr launch(std::vector<at::Tensor> tensors, Enqueue enqueue) {
    for (const at::Tensor& t : tensors)
      ZT_CHECK(t.is_cuda() && t.get_device() == device_, "the NCCL communicator takes tensors on cuda:" << device_);
    cudaEvent_t ready = nullptr, done = nullptr;
    ZT_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    ZT_CUDA(cudaEventRecord(ready, c10::cuda::getCurrentCUDAStream().stream()));
    ZT_CUDA(cudaStreamWaitEvent(stream_, ready, 0));
    ZT_CUDA(cudaEventDestroy(ready));
    enqueue();
    // The caching allocator must not hand these buffers out again until the communicator's stream is
    // done with them, even if the Work is dropped unwaited.
    const c10::cuda::CUDAStream comm_stream = c10::cuda::getStreamFromExternal(stream_, device_);
    for (const at::Tensor& t : tensors) c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), comm_stream);
    ZT_CUDA(cudaEventCreateWithFlags(&done, cudaEventDisableTiming));
    ZT_CUDA(cudaEventRecord(done, stream_));
    return std::make_shared<NcclWork>(comm_, done, std::move(tensors), rank());
  }

  static void share_id(const LaunchEnv& env, ncclUniqueId& id) {
    if (env.world_size == 1) return;
    int mpi = 0;
    MPI_Initialized(&mpi);
    if (mpi) {
      int rc = MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
      ZT_CHECK(rc == MPI_SUCCESS, "sharing the NCCL id over MPI failed (MPI error " << rc << ")");
      return;
    }
    const char* address = std::getenv("MASTER_ADDR");
    const char* port = std::getenv("MASTER_PORT");
    ZT_REQUIRE(address != nullptr && port != nullptr,
               "NCCL without MPI needs MASTER_ADDR and MASTER_PORT to find rank 0 (or launch with mpirun / srun --mpi=pmix)");
    std::string blob = tcp_share_blob(std::string(reinterpret_cast<const char*>(&id), sizeof id), env.rank,
                                      env.world_size, address, std::atoi(port), collective_timeout_s());
    ZT_CHECK(blob.size() == sizeof id, "rendezvous returned " << blob.size() << " bytes for the NCCL id");
    std::memcpy(&id, blob.data(), sizeof id);
  }

  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const LaunchEnv& env) {
  return std::make_unique<NcclCommunicator>(env);
}

}  // namespace zt::dist
