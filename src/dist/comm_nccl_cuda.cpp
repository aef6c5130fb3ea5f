// NCCL communicator for CUDA tensors (compiled only with ZTUNE_CUDA).
//
// How it runs, as production stacks do:
//  - start-up: the unique id goes out over MPI or the rendezvous store; ncclCommInitRankConfig is
//    non-blocking and polled against the collective timeout, so a rank that never arrives is an error
//    naming it, not a hang;
//  - each collective is ordered after torch's current stream by one persistent event, runs on the
//    communicator's own stream, and records a completion event taken from a pool (no allocation per
//    collective); wait() makes torch's stream wait for that event on the device: the host never spins;
//  - a watchdog thread polls the outstanding events and NCCL's asynchronous error; a collective past
//    --ddp_timeout, or an NCCL error, aborts the communicators and ends the process with a message
//    naming this rank and the collective, so the launcher ends the job.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <torch/torch.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/store.h"

namespace zt::dist {
namespace {

#define ZT_CUDA(call)                                                                            \
  do {                                                                                           \
    cudaError_t zt_cuda_rc = (call);                                                             \
    ZT_CHECK(zt_cuda_rc == cudaSuccess, #call << ": " << cudaGetErrorString(zt_cuda_rc));        \
  } while (0)

using Clock = std::chrono::steady_clock;

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

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A non-blocking communicator answers ncclInProgress while an operation is being set up; it must be
// polled to completion before the next NCCL call. Gives up (aborting) after the collective timeout.
void settle(ncclComm_t comm, ncclResult_t rc, const char* what, int rank) {
  const auto start = Clock::now();
  while (rc == ncclInProgress) {
    if (seconds_since(start) > collective_timeout_s()) {
      ncclCommAbort(comm);
      ZT_SYSTEM_THROW("rank " << rank << ": " << what << " did not finish within " << collective_timeout_s()
                              << " s; a peer rank did not arrive (raise --ddp_timeout if start-up is this slow)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm, &async);
    rc = async;
  }
  if (rc != ncclSuccess) {
    ncclCommAbort(comm);
    ZT_SYSTEM_THROW("rank " << rank << ": " << what << " failed: " << ncclGetErrorString(rc) << " ("
                            << ncclGetLastError(comm) << "); set NCCL_DEBUG=WARN for NCCL's own account");
  }
}

// Completion events: a pool shared by every communicator of the process, and the watchdog that
// watches them.
class Watchdog {
 public:
  explicit Watchdog(int device) : device_(device), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    for (cudaEvent_t event : free_) cudaEventDestroy(event);
  }

  cudaEvent_t take_event() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      cudaEvent_t event = free_.back();
      free_.pop_back();
      return event;
    }
    cudaEvent_t event = nullptr;
    ZT_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    return event;
  }
  // Watches `done` (recorded after collective number `seq`, `what`, on `comm`) until it completes, then
  // returns it to the pool.
  void watch(cudaEvent_t done, ncclComm_t comm, const char* what, int64_t seq, int rank) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back({done, comm, what, seq, rank, Clock::now()});
      comms_seen_.insert(comm);
    }
    wake_.notify_all();
  }
  void forget(ncclComm_t comm) {
    std::lock_guard<std::mutex> lock(mutex_);
    comms_seen_.erase(comm);
  }

 private:
  struct Pending {
    cudaEvent_t done;
    ncclComm_t comm;
    const char* what;
    int64_t seq;
    int rank;
    Clock::time_point start;
  };

  void run() {
    cudaSetDevice(device_);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      wake_.wait_for(lock, std::chrono::milliseconds(pending_.empty() ? 1000 : 20));
      for (auto it = pending_.begin(); it != pending_.end();) {
        const cudaError_t state = cudaEventQuery(it->done);
        if (state == cudaSuccess) {
          free_.push_back(it->done);
          it = pending_.erase(it);
          continue;
        }
        if (state != cudaErrorNotReady)
          fail(*it, std::string("the device reported ") + cudaGetErrorString(state));
        if (seconds_since(it->start) > collective_timeout_s())
          fail(*it, "it did not complete within " + std::to_string(static_cast<int64_t>(collective_timeout_s())) +
                        " s; a peer rank is stuck or dead (raise --ddp_timeout if steps are this slow)");
        ++it;
      }
      for (ncclComm_t comm : comms_seen_) {
        ncclResult_t async = ncclSuccess;
        if (ncclCommGetAsyncError(comm, &async) == ncclSuccess && async != ncclSuccess && async != ncclInProgress)
          fail(Pending{nullptr, comm, "a collective", -1, -1, Clock::now()},
               std::string("NCCL reported ") + ncclGetErrorString(async));
      }
    }
  }

  // Aborts every communicator (their kernels stop) and ends the process: a collective that cannot
  // finish leaves nothing this process could still do correctly.
  [[noreturn]] void fail(const Pending& what, const std::string& why) {
    const ProcessIdentity& id = process_identity();
    std::fprintf(stderr, "[rank %d] error: NCCL %s", id.rank, what.what);
    if (what.seq >= 0) std::fprintf(stderr, " #%lld", static_cast<long long>(what.seq));
    std::fprintf(stderr, " failed on rank %d: %s; aborting the communicators\n", id.rank, why.c_str());
    for (ncclComm_t comm : comms_seen_) ncclCommAbort(comm);
    abort_job(kExitSystemError);
  }

  int device_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> free_;
  std::set<ncclComm_t> comms_seen_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

class NcclWork : public Work {
 public:
  explicit NcclWork(cudaEvent_t done) : done_(done) {}
  // Stream-side: torch's current stream waits for the collective on the device.
  void wait() override {
    if (waited_) return;
    ZT_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream().stream(), done_, 0));
    waited_ = true;
  }

 private:
  // Owned by the watchdog's pool, which re-records it only after it completed: a wait() that comes later
  // than that waits for a later collective of the same stream, never for less.
  cudaEvent_t done_;
  bool waited_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const LaunchEnv& env, c10::Device device) : Communicator(env.rank, env.world_size) {
    ZT_REQUIRE(device.is_cuda() && device.has_index(), "the NCCL communicator needs a cuda:N device, not " << device);
    device_ = device.index();
    ZT_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (env.rank == 0) ZT_CHECK(ncclGetUniqueId(&id) == ncclSuccess, "ncclGetUniqueId failed");
    // Rank 0 may serve the store: it stays up until every rank has joined the communicator.
    const c10::intrusive_ptr<c10d::Store> store = share_id(env, id);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&comm_, env.world_size, id, env.rank, &config);
    settle(comm_, rc, "ncclCommInitRankConfig", env.rank);
    watchdog_ = std::make_shared<Watchdog>(device_);
    set_up_streams();
  }
  NcclCommunicator(const NcclCommunicator& parent, ncclComm_t comm)
      : Communicator(parent.rank(), parent.size()), device_(parent.device_), comm_(comm), watchdog_(parent.watchdog_) {
    set_up_streams();
  }
  ~NcclCommunicator() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    watchdog_->forget(comm_);
    if (comm_ != nullptr) ncclCommDestroy(comm_);
    if (ready_ != nullptr) cudaEventDestroy(ready_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }
  std::string backend() const override { return "nccl"; }
  c10::Device device() const override { return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_)); }
  std::unique_ptr<Communicator> duplicate() override {
    ncclComm_t split = nullptr;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommSplit(comm_, 0, rank(), &split, &config);
    settle(split != nullptr ? split : comm_, rc, "ncclCommSplit", rank());
    return std::unique_ptr<Communicator>(new NcclCommunicator(*this, split));
  }
  void barrier() override {
    at::Tensor token = control_token();
    all_reduce(token)->wait();
    ZT_CUDA(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream().stream()));
  }

 protected:
  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    return launch({buffer}, "all_reduce", [&] {
      return ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                           nccl_type(buffer.scalar_type()), ncclSum, comm_, stream_);
    });
  }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, "reduce_scatter", [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts))
        return ncclReduceScatter(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, ncclSum,
                                 comm_, stream_);
      // Uneven pieces: one reduce per owner, grouped into a single launch.
      const int64_t element = static_cast<int64_t>(input.element_size());
      ncclGroupStart();
      ncclResult_t rc = ncclSuccess;
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* from = static_cast<char*>(input.data_ptr()) + offset * element;
        void* into = r == rank() ? output.data_ptr() : nullptr;
        if (rc == ncclSuccess || rc == ncclInProgress)
          rc = ncclReduce(from, into, static_cast<size_t>(n), type, ncclSum, r, comm_, stream_);
      });
      const ncclResult_t end = ncclGroupEnd();
      return rc == ncclSuccess || rc == ncclInProgress ? end : rc;
    });
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, "all_gather", [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts))
        return ncclAllGather(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, comm_, stream_);
      const int64_t element = static_cast<int64_t>(input.element_size());
      ncclGroupStart();
      ncclResult_t rc = ncclSuccess;
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* into = static_cast<char*>(output.data_ptr()) + offset * element;
        const void* from = r == rank() ? input.data_ptr() : into;
        if (rc == ncclSuccess || rc == ncclInProgress)
          rc = ncclBroadcast(from, into, static_cast<size_t>(n), type, r, comm_, stream_);
      });
      const ncclResult_t end = ncclGroupEnd();
      return rc == ncclSuccess || rc == ncclInProgress ? end : rc;
    });
  }
  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    return launch({buffer}, "broadcast", [&] {
      return ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                           nccl_type(buffer.scalar_type()), root, comm_, stream_);
    });
  }

 private:
  static bool equal(const std::vector<int64_t>& counts) {
    for (int64_t c : counts)
      if (c != counts[0]) return false;
    return true;
  }

  void set_up_streams() {
    ZT_CUDA(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    ZT_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  }

  at::Tensor control_token() {
    if (!token_.defined()) token_ = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(device()));
    return token_;
  }

  // Orders the collective after the work already queued on torch's stream, runs it on the
  // communicator's stream, and returns a handle on its completion, which the watchdog watches.
  template <typename Enqueue>
  WorkPtr launch(std::initializer_list<at::Tensor> tensors, const char* what, Enqueue enqueue) {
    for (const at::Tensor& t : tensors)
      ZT_REQUIRE(t.is_cuda() && t.get_device() == device_,
                 "the NCCL communicator takes tensors on cuda:" << device_ << ", got one on " << t.device()
                                                                << (t.is_cpu() ? " (a host tensor reached a GPU collective)" : ""));
    const cudaStream_t torch_stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    ZT_CUDA(cudaEventRecord(ready_, torch_stream));
    ZT_CUDA(cudaStreamWaitEvent(stream_, ready_, 0));
    const int64_t seq = next_seq_++;
    settle(comm_, enqueue(), what, rank());
    // The caching allocator must not hand these buffers out again until the communicator's stream is
    // done with them, even if the Work is dropped unwaited.
    const c10::cuda::CUDAStream comm_stream = c10::cuda::getStreamFromExternal(stream_, static_cast<c10::DeviceIndex>(device_));
    for (const at::Tensor& t : tensors)
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), comm_stream);
    cudaEvent_t done = watchdog_->take_event();
    ZT_CUDA(cudaEventRecord(done, stream_));
    watchdog_->watch(done, comm_, what, seq, rank());
    return std::make_shared<NcclWork>(done);
  }

  // Over MPI when it is up, else through the rendezvous store (returned, for the caller to keep open).
  static c10::intrusive_ptr<c10d::Store> share_id(const LaunchEnv& env, ncclUniqueId& id) {
    if (env.world_size == 1) return {};
    int mpi = 0;
    MPI_Initialized(&mpi);
    if (mpi) {
      int rc = MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
      ZT_CHECK(rc == MPI_SUCCESS, "sharing the NCCL id over MPI failed (MPI error " << rc << ")");
      return {};
    }
    c10::intrusive_ptr<c10d::Store> store = open_rendezvous_store(env, collective_timeout_s());
    if (env.rank == 0) {
      const auto* bytes = reinterpret_cast<const uint8_t*>(&id);
      store->set("nccl_id", std::vector<uint8_t>(bytes, bytes + sizeof id));
    }
    std::vector<uint8_t> blob;
    try {
      blob = store->get("nccl_id");
    } catch (const c10::Error& e) {
      ZT_SYSTEM_THROW("rank " << env.rank << ": no NCCL id from rank 0 through the rendezvous store within "
                              << collective_timeout_s() << " s (" << std::string(e.what()).substr(0, 200) << ")");
    }
    ZT_CHECK(blob.size() == sizeof id, "the rendezvous store returned " << blob.size() << " bytes for the NCCL id");
    std::memcpy(&id, blob.data(), sizeof id);
    return store;
  }

  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;  // persistent: re-recorded before every collective
  std::shared_ptr<Watchdog> watchdog_;
  at::Tensor token_;
  int64_t next_seq_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const LaunchEnv& env, c10::Device device) {
  return std::make_unique<NcclCommunicator>(env, device);
}

}  // namespace zt::dist
