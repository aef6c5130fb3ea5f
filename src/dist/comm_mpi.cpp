// The MPI communicator (CPU ranks under mpirun or srun with PMI): non-blocking collectives, bf16 as a
// 2-byte type with its own sum, uneven reduce-scatter as one reduce per owner.
#include <mpi.h>
#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <string>
#include <thread>

#include "core/check.h"
#include "dist/comm.h"

namespace zt::dist {
namespace {

// bf16 has no MPI type: a 2-byte contiguous type with its own sum.
void bf16_sum(void* in, void* inout, int* length, MPI_Datatype*) {
  const auto* a = static_cast<const c10::BFloat16*>(in);
  auto* b = static_cast<c10::BFloat16*>(inout);
  for (int i = 0; i < *length; ++i) b[i] = c10::BFloat16(static_cast<float>(a[i]) + static_cast<float>(b[i]));
}

struct MpiTypes {
  MPI_Datatype bf16;
  MPI_Op bf16_add;
  MpiTypes() {
    MPI_Type_contiguous(2, MPI_BYTE, &bf16);
    MPI_Type_commit(&bf16);
    MPI_Op_create(&bf16_sum, 1, &bf16_add);
  }
};

const MpiTypes& mpi_types() {
  static MpiTypes types;
  return types;
}

MPI_Datatype mpi_type(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kBFloat16: return mpi_types().bf16;
    default: ZT_THROW("MPI collectives support fp32, fp64, int64 and bf16, not " << c10::toString(type));
  }
}

MPI_Op mpi_sum(at::ScalarType type) { return type == at::kBFloat16 ? mpi_types().bf16_add : MPI_SUM; }

int as_int(int64_t count) {
  ZT_CHECK(count >= 0 && count <= std::numeric_limits<int>::max(),
           "MPI collective of " << count << " elements is out of range; lower the bucket sizes");
  return static_cast<int>(count);
}

class MpiWork : public Work {
 public:
  MpiWork(std::vector<at::Tensor> keep, std::vector<int> a = {}, std::vector<int> b = {}, std::vector<int> c = {},
          std::vector<int> d = {})
      : keep_(std::move(keep)), counts_(std::move(a)), offsets_(std::move(b)), recv_counts_(std::move(c)),
        recv_offsets_(std::move(d)) {}
  const int* counts() const { return counts_.data(); }
  const int* offsets() const { return offsets_.data(); }
  const int* recv_counts() const { return recv_counts_.data(); }
  const int* recv_offsets() const { return recv_offsets_.data(); }
  MPI_Request* request() {
    requests_.push_back(MPI_REQUEST_NULL);
    return &requests_.back();
  }
  void check_started(int rc, const char* what) {
    ZT_CHECK(rc == MPI_SUCCESS, what << " failed to start (MPI error " << rc << ")");
    what_ = what;
    timeout_s_ = collective_timeout_s();
  }
  void set_timeout(double seconds) { timeout_s_ = seconds; }
  // Polls so that a rank stuck elsewhere turns into an error naming this rank after the timeout instead
  // of a silent hang (a rank that dies is reported by mpirun, which ends the job).
  void wait() override {
    if (requests_.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    for (int polls = 0;; ++polls) {
      int done = 0;
      int rc = MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
      if (rc != MPI_SUCCESS)
        ZT_SYSTEM_THROW(what_ << " failed (MPI error " << rc << "); another rank probably failed");
      if (done) break;
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >= timeout_s_)
        ZT_SYSTEM_THROW("rank " << process_identity().rank << ": " << what_ << " did not complete within "
                                << timeout_s_ << " s; a peer rank is stuck or dead (raise --ddp_timeout if steps "
                                << "are this slow)");
    }
    keep_.clear();
    requests_.clear();
  }
  // A Work dropped unfinished waits a little, then gives up rather than hang; its buffers are then leaked
  // so MPI can never write into freed memory. While an exception unwinds past it (the process is on its way
  // to aborting the job) it does not wait at all.
  ~MpiWork() override {
    if (requests_.empty()) return;
    const auto start = std::chrono::steady_clock::now();
    const double patience = std::uncaught_exceptions() > 0 ? 0 : 10;
    int done = 0;
    while (!done && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < patience) {
      if (MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
        break;
      if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (!done) {
      static std::vector<at::Tensor>* abandoned = new std::vector<at::Tensor>();
      abandoned->insert(abandoned->end(), keep_.begin(), keep_.end());
      new std::vector<int>(std::move(counts_));
      new std::vector<int>(std::move(offsets_));
      new std::vector<int>(std::move(recv_counts_));
      new std::vector<int>(std::move(recv_offsets_));
    }
  }

 private:
  std::vector<MPI_Request> requests_;  // MPI writes each handle when the operation starts
  std::vector<at::Tensor> keep_;  // the buffers must outlive the operation
  std::vector<int> counts_, offsets_, recv_counts_, recv_offsets_;
  const char* what_ = "";
  double timeout_s_ = 600;
};

int comm_rank(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}
int comm_size(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

class MpiCommunicator : public Communicator {
 public:
  // Each communicator has its own duplicate of MPI_COMM_WORLD, so that collectives of different users
  // (gradient buckets, ZeRO-3 weight gathers) never have to start in a common order.
  MpiCommunicator(int rank, int size) : Communicator(rank, size) {
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
    ZT_CHECK(rc == MPI_SUCCESS, "MPI_Comm_dup failed (MPI error " << rc << ")");
    make_control();
  }
  // Takes `comm` over (a split of another communicator).
  explicit MpiCommunicator(MPI_Comm comm) : Communicator(comm_rank(comm), comm_size(comm)), comm_(comm) {
    make_control();
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized || std::uncaught_exceptions() > 0) return;  // leaving on an error: the job is aborted
    MPI_Comm_free(&control_);
    MPI_Comm_free(&comm_);
  }
  std::string backend() const override { return "mpi"; }
  std::unique_ptr<Communicator> duplicate() override { return std::make_unique<MpiCommunicator>(rank(), size()); }
  std::unique_ptr<Communicator> split(int color, int key) override {
    MPI_Comm part;
    int rc = MPI_Comm_split(comm_, color, key, &part);
    ZT_CHECK(rc == MPI_SUCCESS, "MPI_Comm_split failed (MPI error " << rc << ")");
    MPI_Comm_set_errhandler(part, MPI_ERRORS_RETURN);
    return std::unique_ptr<Communicator>(new MpiCommunicator(part));
  }

 protected:
  // The control plane by messages through rank 0, on a communicator of its own: rank 0 knows who has
  // arrived, so a timeout names the ranks that did not; the others name rank 0.
  void do_barrier() override { exchange({}, "barrier"); }
  std::vector<uint64_t> do_all_gather_values(const std::vector<uint64_t>& mine) override {
    return exchange(mine, "all_gather_values");
  }
  std::string do_broadcast_text(const std::string& text, int root) override {
    const int tag = next_tag();
    const auto start = std::chrono::steady_clock::now();
    if (rank() == root) {
      std::vector<MPI_Request> sends;
      for (int r = 0; r < size(); ++r) {
        if (r == root) continue;
        sends.push_back(MPI_REQUEST_NULL);
        check(MPI_Isend(text.data(), as_int(static_cast<int64_t>(text.size())), MPI_CHAR, r, tag, control_,
                        &sends.back()), "broadcast_text");
      }
      complete(sends, start, "broadcast_text");
      return text;
    }
    const std::vector<char> bytes = receive_from<char>(root, tag, MPI_CHAR, start, "broadcast_text");
    return std::string(bytes.begin(), bytes.end());
  }
  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    cpu_only(buffer);
    auto work = std::make_shared<MpiWork>(std::vector<at::Tensor>{buffer});
    work->check_started(MPI_Iallreduce(MPI_IN_PLACE, buffer.data_ptr(), as_int(buffer.numel()),
                                       mpi_type(buffer.scalar_type()), mpi_sum(buffer.scalar_type()), comm_,
                                       work->request()),
                        "MPI all_reduce");
    return work;
  }
  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    cpu_only(input);
    cpu_only(output);
    auto work = std::make_shared<MpiWork>(std::vector<at::Tensor>{input, output});
    MPI_Datatype type = mpi_type(input.scalar_type());
    MPI_Op op = mpi_sum(input.scalar_type());
    if (std::all_of(counts.begin(), counts.end(), [&](int64_t c) { return c == counts[0]; })) {
      work->check_started(MPI_Ireduce_scatter_block(input.data_ptr(), output.data_ptr(), as_int(counts[0]), type, op,
                                                    comm_, work->request()),
                          "MPI reduce_scatter");
      return work;
    }
    // Uneven pieces (a bucket that only some partitions overlap): one reduce per owner. OpenMPI's
    // non-blocking reduce-scatter with zero counts fails with MPI_ERR_TRUNCATE, so it is not used here.
    const int64_t element = static_cast<int64_t>(input.element_size());
    for_each_piece(counts, [&](int r, int64_t offset, int64_t n) {
      const char* from = static_cast<const char*>(input.data_ptr()) + offset * element;
      void* into = r == rank() ? output.data_ptr() : nullptr;
      work->check_started(MPI_Ireduce(from, into, as_int(n), type, op, r, comm_, work->request()), "MPI reduce_scatter");
    });
    return work;
  }
  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    cpu_only(input);
    cpu_only(output);
    std::vector<int64_t> offsets(counts.size(), 0);
    for (size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
    // The count and offset arrays must live until the operation completes: the Work owns them.
    auto work = std::make_shared<MpiWork>(std::vector<at::Tensor>{input, output}, to_ints(counts), to_ints(offsets));
    MPI_Datatype type = mpi_type(input.scalar_type());
    work->check_started(MPI_Iallgatherv(input.data_ptr(), as_int(input.numel()), type, output.data_ptr(),
                                        work->counts(), work->offsets(), type, comm_, work->request()),
                        "MPI all_gather");
    return work;
  }
  WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& recv_counts) override {
    cpu_only(input);
    cpu_only(output);
    auto offsets_of = [](const std::vector<int64_t>& counts) {
      std::vector<int64_t> offsets(counts.size(), 0);
      for (size_t r = 1; r < counts.size(); ++r) offsets[r] = offsets[r - 1] + counts[r - 1];
      return offsets;
    };
    // The count and offset arrays must live until the operation completes: the Work owns them.
    auto work = std::make_shared<MpiWork>(std::vector<at::Tensor>{input, output}, to_ints(send_counts),
                                          to_ints(offsets_of(send_counts)), to_ints(recv_counts),
                                          to_ints(offsets_of(recv_counts)));
    MPI_Datatype type = mpi_type(input.scalar_type());
    work->check_started(MPI_Ialltoallv(input.data_ptr(), work->counts(), work->offsets(), type, output.data_ptr(),
                                       work->recv_counts(), work->recv_offsets(), type, comm_, work->request()),
                        "MPI all_to_all");
    return work;
  }
  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    cpu_only(buffer);
    auto work = std::make_shared<MpiWork>(std::vector<at::Tensor>{buffer});
    work->check_started(MPI_Ibcast(buffer.data_ptr(), as_int(buffer.numel()), mpi_type(buffer.scalar_type()), root,
                                   comm_, work->request()),
                        "MPI broadcast");
    return work;
  }


 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  MPI_Comm control_ = MPI_COMM_NULL;  // the control plane's messages, apart from the collectives
  int control_seq_ = 0;

  void make_control() {
    ZT_CHECK(MPI_Comm_dup(comm_, &control_) == MPI_SUCCESS, "MPI_Comm_dup failed");
    MPI_Comm_set_errhandler(control_, MPI_ERRORS_RETURN);
  }
  int next_tag() { return control_seq_++ % 32000; }  // MPI guarantees tags up to 32767

  void check(int rc, const char* what) const {
    if (rc != MPI_SUCCESS)
      ZT_SYSTEM_THROW("rank " << rank() << ": " << what << " failed (MPI error " << rc << "); another rank probably failed");
  }
  double waited(std::chrono::steady_clock::time_point start) const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  static void pause(int polls) {
    if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(polls > 100000 ? 1000 : 50));
  }

  // Every rank's values at every rank: each sends its own to rank 0, which sends back the concatenation.
  std::vector<uint64_t> exchange(const std::vector<uint64_t>& mine, const char* what) {
    const int tag = next_tag();
    const auto start = std::chrono::steady_clock::now();
    if (rank() != 0) {
      MPI_Request send = MPI_REQUEST_NULL;
      check(MPI_Isend(mine.data(), as_int(static_cast<int64_t>(mine.size())), MPI_UINT64_T, 0, tag, control_, &send), what);
      std::vector<MPI_Request> sends{send};
      complete(sends, start, what);
      return receive_from(0, tag, MPI_UINT64_T, start, what);
    }
    std::vector<std::vector<uint64_t>> from(static_cast<size_t>(size()));
    std::vector<bool> arrived(static_cast<size_t>(size()), false);
    from[0] = mine;
    arrived[0] = true;
    int missing = size() - 1;
    for (int polls = 0; missing > 0; ++polls) {
      for (int r = 1; r < size(); ++r) {
        if (arrived[static_cast<size_t>(r)]) continue;
        int ready = 0;
        MPI_Status status;
        check(MPI_Iprobe(r, tag, control_, &ready, &status), what);
        if (!ready) continue;
        int count = 0;
        MPI_Get_count(&status, MPI_UINT64_T, &count);
        from[static_cast<size_t>(r)].resize(static_cast<size_t>(count));
        check(MPI_Recv(from[static_cast<size_t>(r)].data(), count, MPI_UINT64_T, r, tag, control_, MPI_STATUS_IGNORE), what);
        arrived[static_cast<size_t>(r)] = true;
        --missing;
      }
      if (missing == 0) break;
      if (waited(start) >= collective_timeout_s()) {
        std::string absent;
        for (int r = 1; r < size(); ++r)
          if (!arrived[static_cast<size_t>(r)]) absent += (absent.empty() ? "" : ", ") + std::to_string(r);
        ZT_SYSTEM_THROW("rank 0: " << what << " did not complete within " << collective_timeout_s()
                                   << " s; still waiting for rank(s) " << absent
                                   << ", stuck or dead (raise --ddp_timeout if steps are this slow)");
      }
      pause(polls);
    }
    std::vector<uint64_t> all;
    for (const auto& values : from) all.insert(all.end(), values.begin(), values.end());
    std::vector<MPI_Request> sends(static_cast<size_t>(size() - 1), MPI_REQUEST_NULL);
    for (int r = 1; r < size(); ++r)
      check(MPI_Isend(all.data(), as_int(static_cast<int64_t>(all.size())), MPI_UINT64_T, r, tag, control_,
                      &sends[static_cast<size_t>(r - 1)]), what);
    complete(sends, start, what);
    return all;
  }

  // A message of any length from `from`, waiting no longer than the collective timeout.
  template <typename T = uint64_t>
  std::vector<T> receive_from(int from, int tag, MPI_Datatype type, std::chrono::steady_clock::time_point start,
                              const char* what) {
    for (int polls = 0;; ++polls) {
      int ready = 0;
      MPI_Status status;
      check(MPI_Iprobe(from, tag, control_, &ready, &status), what);
      if (ready) {
        int count = 0;
        MPI_Get_count(&status, type, &count);
        std::vector<T> values(static_cast<size_t>(count));
        check(MPI_Recv(values.data(), count, type, from, tag, control_, MPI_STATUS_IGNORE), what);
        return values;
      }
      if (waited(start) >= collective_timeout_s())
        ZT_SYSTEM_THROW("rank " << rank() << ": " << what << " did not complete within " << collective_timeout_s()
                                << " s; no word from rank " << from << (from == 0 ? " (it waits for every rank)" : "")
                                << ", stuck or dead (raise --ddp_timeout if steps are this slow)");
      pause(polls);
    }
  }

  // Waits for sends to complete, no longer than the collective timeout.
  void complete(std::vector<MPI_Request>& sends, std::chrono::steady_clock::time_point start, const char* what) {
    for (int polls = 0;; ++polls) {
      int done = 0;
      check(MPI_Testall(static_cast<int>(sends.size()), sends.data(), &done, MPI_STATUSES_IGNORE), what);
      if (done) return;
      if (waited(start) >= collective_timeout_s())
        ZT_SYSTEM_THROW("rank " << rank() << ": " << what << " did not complete within " << collective_timeout_s()
                                << " s; a peer rank is not receiving, stuck or dead");
      pause(polls);
    }
  }

  static void cpu_only(const at::Tensor& t) {
    ZT_CHECK(t.device().is_cpu(), "the MPI communicator takes CPU tensors (CUDA tensors go through NCCL)");
  }
  static std::vector<int> to_ints(const std::vector<int64_t>& counts) {
    std::vector<int> ints;
    for (int64_t c : counts) ints.push_back(as_int(c));
    return ints;
  }
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  ZT_CHECK(initialized, "make_mpi_communicator: MPI is not initialized (call init_mpi first)");
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return std::make_unique<MpiCommunicator>(rank, size);
}

}  // namespace zt::dist
