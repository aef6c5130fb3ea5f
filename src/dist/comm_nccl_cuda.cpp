// NCCL communicator for CUDA tensors (compiled only with ZTUNE_CUDA).
//
// How it runs, as production stacks do:
//  - start-up: the unique id goes out over MPI or the rendezvous store; ncclCommInitRankConfig is
//    non-blocking and polled against the collective timeout, so a rank that never arrives is an error
//    naming it, not a hang;
//  - each collective is ordered after torch's current stream by one persistent event, runs on the
//    communicator's own stream (one of torch's pooled streams, which live as long as the process, so the
//    caching allocator may record uses of it at any time), and records a completion event taken from a
//    pool (no allocation per collective); wait() makes torch's stream wait for that event on the device:
//    the host never spins. An event goes back to the pool only when its collective has completed and no
//    Work refers to it any more;
//  - a watchdog thread polls the outstanding events and NCCL's asynchronous error; a collective past
//    --ddp_timeout, or an NCCL error, aborts the communicators and ends the process with a message
//    naming this rank and the collective, so the launcher ends the job.
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include "core/torch_api.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
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
// polled to completion before the next NCCL call. On failure or after `timeout_s`, `abandon` (which
// aborts the communicator and forgets it everywhere) runs before the error is raised.
template <typename Abandon>
void settle(ncclComm_t comm, ncclResult_t rc, const char* what, int rank, double timeout_s, Abandon abandon) {
  const auto start = Clock::now();
  while (rc == ncclInProgress && comm != nullptr) {
    if (seconds_since(start) > timeout_s) {
      abandon();
      ZT_SYSTEM_THROW("rank " << rank << ": " << what << " did not finish within " << timeout_s
                              << " s; a peer rank did not arrive or is stuck (raise --ddp_timeout if this is slow)");
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm, &async);
    rc = async;
  }
  if (rc != ncclSuccess) {
    const std::string detail = comm != nullptr ? ncclGetLastError(comm) : "";
    abandon();
    ZT_SYSTEM_THROW("rank " << rank << ": " << what << " failed: " << ncclGetErrorString(rc) << " (" << detail
                            << "); set NCCL_DEBUG=WARN for NCCL's own account");
  }
}

// A pooled completion event, returned to its pool when the last holder (the Work, the watchdog's entry)
// lets go: the watchdog holds it until the collective completed, so a recycled event is never one a
// Work still waits on.
class EventPool : public std::enable_shared_from_this<EventPool> {
 public:
  ~EventPool() {
    for (cudaEvent_t event : free_) cudaEventDestroy(event);
  }
  std::shared_ptr<cudaEvent_t> take() {
    cudaEvent_t event = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        event = free_.back();
        free_.pop_back();
      }
    }
    if (event == nullptr) ZT_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
    std::shared_ptr<EventPool> pool = shared_from_this();
    return std::shared_ptr<cudaEvent_t>(new cudaEvent_t(event), [pool](cudaEvent_t* held) {
      {
        std::lock_guard<std::mutex> lock(pool->mutex_);
        pool->free_.push_back(*held);
      }
      delete held;
    });
  }

 private:
  std::mutex mutex_;
  std::vector<cudaEvent_t> free_;
};

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
  }

  std::shared_ptr<cudaEvent_t> take_event() { return events_->take(); }
  // Watches `done` (recorded after collective number `seq`, `what`, on `comm`) until it completes.
  void watch(std::shared_ptr<cudaEvent_t> done, ncclComm_t comm, const char* what, int64_t seq, int rank) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back({std::move(done), comm, what, seq, rank, Clock::now()});
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
    std::shared_ptr<cudaEvent_t> done;
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
        const cudaError_t state = cudaEventQuery(*it->done);
        if (state == cudaSuccess) {
          it = pending_.erase(it);  // the event returns to the pool once no Work holds it either
          continue;
        }
        if (state != cudaErrorNotReady)
          fail(*it, std::string("the device reported ") + cudaGetErrorString(state));
        if (seconds_since(it->start) > collective_timeout_s())
          fail(*it, "it did not complete within " + std::to_string(static_cast<int64_t>(collective_timeout_s())) +
                        " s; a peer rank is stuck or dead (raise --ddp_timeout if steps are this slow)");
        ++it;
      }
      // Without MPI a failed rank says so through the job store (MPI_Abort ends such a job by itself).
      if (Clock::now() - last_store_check_ > std::chrono::seconds(1)) {
        last_store_check_ = Clock::now();
        if (job_aborted())
          fail(Pending{nullptr, nullptr, "a collective", -1, -1, Clock::now()}, "another rank failed (its error is above)");
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
  std::set<ncclComm_t> comms_seen_;
  std::shared_ptr<EventPool> events_ = std::make_shared<EventPool>();
  Clock::time_point last_store_check_ = Clock::now();
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

class NcclWork : public Work {
 public:
  NcclWork(std::shared_ptr<cudaEvent_t> done, c10::DeviceIndex device) : done_(std::move(done)), device_(device) {}
  // Stream-side: torch's current stream waits for the collective on the device.
  void wait() override {
    if (waited_) return;
    ZT_CUDA(cudaStreamWaitEvent(c10::cuda::getCurrentCUDAStream(device_).stream(), *done_, 0));
    waited_ = true;
    done_.reset();
  }

 private:
  std::shared_ptr<cudaEvent_t> done_;  // held until waited for: the pool cannot re-record it before
  c10::DeviceIndex device_;
  bool waited_ = false;
};

int comm_rank(ncclComm_t comm) {
  int rank = 0;
  ZT_CHECK(ncclCommUserRank(comm, &rank) == ncclSuccess, "ncclCommUserRank failed");
  return rank;
}
int comm_count(ncclComm_t comm) {
  int count = 1;
  ZT_CHECK(ncclCommCount(comm, &count) == ncclSuccess, "ncclCommCount failed");
  return count;
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const LaunchEnv& env, c10::Device device) : Communicator(env.rank, env.world_size) {
    ZT_REQUIRE(device.is_cuda() && device.has_index(), "the NCCL communicator needs a cuda:N device, not " << device);
    device_ = device.index();
    ZT_CUDA(cudaSetDevice(device_));
    ncclUniqueId id;
    if (env.rank == 0) ZT_CHECK(ncclGetUniqueId(&id) == ncclSuccess, "ncclGetUniqueId failed");
    // Without MPI the id goes through the job's store (rank 0 may serve it; it stays up with the process).
    share_id(env, id);
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommInitRankConfig(&comm_, env.world_size, id, env.rank, &config);
    settle(comm_, rc, "ncclCommInitRankConfig", env.rank, collective_timeout_s(), [this] { abandon(); });
    watchdog_ = std::make_shared<Watchdog>(device_);
    set_up_streams();
  }
  NcclCommunicator(const NcclCommunicator& parent, ncclComm_t comm)
      : Communicator(comm_rank(comm), comm_count(comm)), device_(parent.device_), comm_(comm),
        watchdog_(parent.watchdog_) {
    set_up_streams();
  }
  // Finalises the communicator (collective among the ranks; polled, with a bounded wait) and destroys it.
  // The stream is torch's and stays.
  ~NcclCommunicator() override {
    const c10::cuda::CUDAGuard on_device(static_cast<c10::DeviceIndex>(device_));
    if (watchdog_) watchdog_->forget(comm_);
    if (comm_ != nullptr && std::uncaught_exceptions() > 0) abandon();  // leaving on an error: no collective
    if (comm_ != nullptr) {
      try {
        settle(comm_, ncclCommFinalize(comm_), "ncclCommFinalize", rank(), std::min(60.0, collective_timeout_s()),
               [this] { abandon(); });
      } catch (const std::exception& error) {
        std::fprintf(stderr, "[rank %d] warning: %s\n", rank(), error.what());
      }
      if (comm_ != nullptr) ncclCommDestroy(comm_);
    }
    if (ready_ != nullptr) cudaEventDestroy(ready_);
  }
  std::string backend() const override { return "nccl"; }
  c10::Device device() const override { return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_)); }
  std::unique_ptr<Communicator> duplicate() override { return split(0, rank()); }
  std::unique_ptr<Communicator> split(int color, int key) override {
    const c10::cuda::CUDAGuard on_device(static_cast<c10::DeviceIndex>(device_));
    ncclComm_t part = nullptr;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t rc = ncclCommSplit(comm_, color, key, &part, &config);
    ZT_REQUIRE(rc == ncclSuccess || rc == ncclInProgress,
               "rank " << rank() << ": ncclCommSplit failed: " << ncclGetErrorString(rc));
    // Only the new communicator is given up on failure; this one stays usable.
    settle(part, rc, "ncclCommSplit", rank(), collective_timeout_s(), [&part] {
      if (part != nullptr) ncclCommAbort(part);
      part = nullptr;
    });
    return std::unique_ptr<Communicator>(new NcclCommunicator(*this, part));
  }

 protected:
  void do_barrier() override {
    at::Tensor token = control_token();
    all_reduce(token)->wait();
    ZT_CUDA(cudaStreamSynchronize(c10::cuda::getCurrentCUDAStream().stream()));
  }

  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    return launch({buffer}, "all_reduce", [&] {
      return ncclAllReduce(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                           nccl_type(buffer.scalar_type()), ncclSum, comm_, stream_.stream());
    });
  }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, "reduce_scatter", [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts))
        return ncclReduceScatter(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, ncclSum,
                                 comm_, stream_.stream());
      // Uneven pieces: one reduce per owner, grouped into a single launch.
      const int64_t element = static_cast<int64_t>(input.element_size());
      ncclGroupStart();
      ncclResult_t rc = ncclSuccess;
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* from = static_cast<char*>(input.data_ptr()) + offset * element;
        void* into = r == rank() ? output.data_ptr() : nullptr;
        if (rc == ncclSuccess || rc == ncclInProgress)
          rc = ncclReduce(from, into, static_cast<size_t>(n), type, ncclSum, r, comm_, stream_.stream());
      });
      const ncclResult_t end = ncclGroupEnd();
      return rc == ncclSuccess || rc == ncclInProgress ? end : rc;
    });
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    return launch({input, output}, "all_gather", [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      if (equal(counts))
        return ncclAllGather(input.data_ptr(), output.data_ptr(), static_cast<size_t>(counts[0]), type, comm_, stream_.stream());
      const int64_t element = static_cast<int64_t>(input.element_size());
      ncclGroupStart();
      ncclResult_t rc = ncclSuccess;
      for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
        char* into = static_cast<char*>(output.data_ptr()) + offset * element;
        const void* from = r == rank() ? input.data_ptr() : into;
        if (rc == ncclSuccess || rc == ncclInProgress)
          rc = ncclBroadcast(from, into, static_cast<size_t>(n), type, r, comm_, stream_.stream());
      });
      const ncclResult_t end = ncclGroupEnd();
      return rc == ncclSuccess || rc == ncclInProgress ? end : rc;
    });
  }
  WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& recv_counts) override {
    return launch({input, output}, "all_to_all", [&] {
      const ncclDataType_t type = nccl_type(input.scalar_type());
      const int64_t element = static_cast<int64_t>(input.element_size());
      // One group of point-to-point transfers: a send and a receive per peer (NCCL's all-to-all pattern).
      ncclGroupStart();
      ncclResult_t rc = ncclSuccess;
      auto ok = [&] { return rc == ncclSuccess || rc == ncclInProgress; };
      int64_t in_offset = 0, out_offset = 0;
      for (int r = 0; r < size(); ++r) {
        const int64_t send = send_counts[static_cast<size_t>(r)], recv = recv_counts[static_cast<size_t>(r)];
        if (send > 0 && ok())
          rc = ncclSend(static_cast<const char*>(input.data_ptr()) + in_offset * element, static_cast<size_t>(send),
                        type, r, comm_, stream_.stream());
        if (recv > 0 && ok())
          rc = ncclRecv(static_cast<char*>(output.data_ptr()) + out_offset * element, static_cast<size_t>(recv), type,
                        r, comm_, stream_.stream());
        in_offset += send;
        out_offset += recv;
      }
      const ncclResult_t end = ncclGroupEnd();
      return ok() ? end : rc;
    });
  }
  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    return launch({buffer}, "broadcast", [&] {
      return ncclBroadcast(buffer.data_ptr(), buffer.data_ptr(), static_cast<size_t>(buffer.numel()),
                           nccl_type(buffer.scalar_type()), root, comm_, stream_.stream());
    });
  }

 private:
  static bool equal(const std::vector<int64_t>& counts) {
    for (int64_t c : counts)
      if (c != counts[0]) return false;
    return true;
  }

  void set_up_streams() {
    const c10::cuda::CUDAGuard on_device(static_cast<c10::DeviceIndex>(device_));
    stream_ = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, static_cast<c10::DeviceIndex>(device_));
    ZT_CUDA(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  }

  // Aborts this communicator after a failure and forgets it, so that neither the watchdog nor the
  // destructor touches it again.
  void abandon() {
    if (comm_ == nullptr) return;
    if (watchdog_) watchdog_->forget(comm_);
    ncclCommAbort(comm_);
    comm_ = nullptr;
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
    ZT_REQUIRE(comm_ != nullptr, "rank " << rank() << ": the NCCL communicator was aborted after an earlier failure");
    const cudaStream_t torch_stream = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device_)).stream();
    ZT_CUDA(cudaEventRecord(ready_, torch_stream));
    ZT_CUDA(cudaStreamWaitEvent(stream_.stream(), ready_, 0));
    const int64_t seq = next_seq_++;
    settle(comm_, enqueue(), what, rank(), collective_timeout_s(), [this] { abandon(); });
    // The caching allocator must not hand these buffers out again until the communicator's stream is
    // done with them, even if the Work is dropped unwaited.
    for (const at::Tensor& t : tensors)
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), stream_);
    std::shared_ptr<cudaEvent_t> done = watchdog_->take_event();
    ZT_CUDA(cudaEventRecord(*done, stream_.stream()));
    watchdog_->watch(done, comm_, what, seq, rank());
    return std::make_shared<NcclWork>(std::move(done), static_cast<c10::DeviceIndex>(device_));
  }

  // Over MPI when it is up, else through the job's rendezvous store.
  static void share_id(const LaunchEnv& env, ncclUniqueId& id) {
    if (env.world_size == 1) return;
    int mpi = 0;
    MPI_Initialized(&mpi);
    if (mpi) {
      int rc = MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
      ZT_CHECK(rc == MPI_SUCCESS, "sharing the NCCL id over MPI failed (MPI error " << rc << ")");
      return;
    }
    c10::intrusive_ptr<c10d::Store> store = job_store(env, collective_timeout_s());
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
  }

  int device_ = 0;
  ncclComm_t comm_ = nullptr;
  c10::cuda::CUDAStream stream_ = c10::cuda::getDefaultCUDAStream();  // replaced by a pooled stream
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
