// The communicator of CPU ranks launched without MPI (torchrun, srun without PMI, RANK/WORLD_SIZE by
// hand): every collective exchanges its bytes through the rendezvous store that rank 0 serves
// (libtorch's c10d::TCPStore). It is the control plane of such runs and makes them testable on CPU; it
// moves every byte through rank 0, so it is for small worlds and validation, not for speed (GPU runs use
// NCCL, CPU clusters MPI). docs/DEPENDENCIES.md says why it is not Gloo.
//
// Collective number `seq` of communicator `name` uses the keys name/seq/FROM (a rank's whole buffer) or
// name/seq/FROM>TO (the piece FROM sends TO). Every rank computes the same sums in rank order, so all
// hold identical results. The last rank done with a collective deletes its keys.
#include <c10/util/Logging.h>
#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <set>
#include <thread>

#include "core/check.h"
#include "core/log.h"
#include "dist/comm.h"
#include "dist/store.h"

namespace zt::dist {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes bytes_of(const at::Tensor& t) {
  const auto* p = static_cast<const uint8_t*>(t.data_ptr());
  return Bytes(p, p + t.nbytes());
}

at::Tensor tensor_of(const Bytes& bytes, const at::Tensor& like, int64_t numel) {
  ZT_CHECK(static_cast<int64_t>(bytes.size()) == numel * static_cast<int64_t>(like.element_size()),
           "store communicator: a peer sent " << bytes.size() << " bytes where " << numel << " elements were expected");
  at::Tensor out = at::empty({numel}, like.options());
  if (!bytes.empty()) std::memcpy(out.data_ptr(), bytes.data(), bytes.size());
  return out;
}

class StoreCommunicator : public Communicator {
 public:
  StoreCommunicator(c10::intrusive_ptr<c10d::Store> store, int rank, int size, std::string name)
      : Communicator(rank, size), store_(std::move(store)), name_(std::move(name)) {}

  // The job's communicator: rank 0 serves the store, so it stays until the others have said goodbye
  // (skipped when leaving on an error: the abort key tells the others instead).
  ~StoreCommunicator() override {
    if (name_ != "c" || std::uncaught_exceptions() > 0) return;
    try {
      if (rank() != 0) {
        store_->add("farewell", 1);
        return;
      }
      const auto start = std::chrono::steady_clock::now();
      while (store_->add("farewell", 0) < size() - 1 &&
             std::chrono::steady_clock::now() - start < std::chrono::seconds(30))
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } catch (...) {
    }
  }

  std::string backend() const override { return "store"; }
  std::unique_ptr<Communicator> duplicate() override {
    return std::make_unique<StoreCommunicator>(store_, rank(), size(), name_ + "." + std::to_string(++duplicates_));
  }
  std::unique_ptr<Communicator> split(int color, int key) override {
    // Every rank's (color, key) through this communicator; the members of my color in (key, rank) order. The
    // part's keys live under a name of their own, so its collectives never meet this one's.
    const std::vector<uint64_t> all = all_gather_values({static_cast<uint64_t>(static_cast<uint32_t>(color)),
                                                         static_cast<uint64_t>(static_cast<uint32_t>(key))});
    std::vector<std::pair<int64_t, int>> members;  // (key, rank)
    for (int r = 0; r < size(); ++r)
      if (static_cast<int>(static_cast<uint32_t>(all[2 * static_cast<size_t>(r)])) == color)
        members.emplace_back(static_cast<int32_t>(static_cast<uint32_t>(all[2 * static_cast<size_t>(r) + 1])), r);
    std::sort(members.begin(), members.end());
    int my_rank = 0;
    for (size_t i = 0; i < members.size(); ++i)
      if (members[i].second == rank()) my_rank = static_cast<int>(i);
    return std::make_unique<StoreCommunicator>(store_, my_rank, static_cast<int>(members.size()),
                                               name_ + ".s" + std::to_string(++duplicates_) + "." + std::to_string(color));
  }

 protected:
  void do_barrier() override {
    const int64_t seq = next_seq_++;
    store_->set(key(seq, rank()), Bytes{});
    std::vector<std::string> keys;
    for (int r = 0; r < size(); ++r) keys.push_back(key(seq, r));
    take(keys, seq, "barrier");
    retire(seq, keys);
  }

  WorkPtr do_all_reduce(at::Tensor& buffer) override {
    cpu_only(buffer);
    const int64_t seq = next_seq_++;
    store_->set(key(seq, rank()), bytes_of(buffer));
    std::vector<std::string> keys;
    for (int r = 0; r < size(); ++r) keys.push_back(key(seq, r));
    const std::vector<Bytes> all = take(keys, seq, "all_reduce");
    at::Tensor sum = tensor_of(all[0], buffer, buffer.numel());
    for (int r = 1; r < size(); ++r) sum.add_(tensor_of(all[static_cast<size_t>(r)], buffer, buffer.numel()));
    buffer.copy_(sum);
    retire(seq, keys);
    return finished_work();
  }

  WorkPtr do_reduce_scatter(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    cpu_only(input);
    cpu_only(output);
    const int64_t seq = next_seq_++;
    const int64_t mine = counts[static_cast<size_t>(rank())];
    for_each_piece(counts, [&](int to, int64_t offset, int64_t n) {
      store_->set(key(seq, rank(), to), bytes_of(input.narrow(0, offset, n)));
    });
    std::vector<std::string> wanted;
    if (mine > 0)
      for (int from = 0; from < size(); ++from) wanted.push_back(key(seq, from, rank()));
    const std::vector<Bytes> pieces = take(wanted, seq, "reduce_scatter");
    if (mine > 0) {
      at::Tensor sum = tensor_of(pieces[0], input, mine);
      for (size_t from = 1; from < pieces.size(); ++from) sum.add_(tensor_of(pieces[from], input, mine));
      output.copy_(sum);
    }
    std::vector<std::string> keys;
    for_each_piece(counts, [&](int to, int64_t, int64_t) {
      for (int from = 0; from < size(); ++from) keys.push_back(key(seq, from, to));
    });
    retire(seq, keys);
    return finished_work();
  }

  WorkPtr do_all_gather(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& counts) override {
    cpu_only(input);
    cpu_only(output);
    const int64_t seq = next_seq_++;
    if (input.numel() > 0) store_->set(key(seq, rank()), bytes_of(input));
    std::vector<std::string> keys;
    for_each_piece(counts, [&](int from, int64_t, int64_t) { keys.push_back(key(seq, from)); });
    const std::vector<Bytes> pieces = take(keys, seq, "all_gather");
    size_t next = 0;
    for_each_piece(counts, [&](int, int64_t offset, int64_t n) {
      output.narrow(0, offset, n).copy_(tensor_of(pieces[next++], input, n));
    });
    retire(seq, keys);
    return finished_work();
  }

  WorkPtr do_all_to_all(const at::Tensor& input, at::Tensor& output, const std::vector<int64_t>& send_counts,
                        const std::vector<int64_t>& recv_counts) override {
    cpu_only(input);
    cpu_only(output);
    const int64_t seq = next_seq_++;
    std::vector<int64_t> in_offsets(send_counts.size(), 0), out_offsets(recv_counts.size(), 0);
    for (size_t r = 1; r < send_counts.size(); ++r) in_offsets[r] = in_offsets[r - 1] + send_counts[r - 1];
    for (size_t r = 1; r < recv_counts.size(); ++r) out_offsets[r] = out_offsets[r - 1] + recv_counts[r - 1];
    for (int to = 0; to < size(); ++to)
      if (to != rank() && send_counts[static_cast<size_t>(to)] > 0)
        store_->set(key(seq, rank(), to), bytes_of(input.narrow(0, in_offsets[static_cast<size_t>(to)],
                                                                send_counts[static_cast<size_t>(to)])));
    const size_t self = static_cast<size_t>(rank());
    output.narrow(0, out_offsets[self], recv_counts[self]).copy_(input.narrow(0, in_offsets[self], send_counts[self]));
    std::vector<std::string> wanted;
    std::vector<int> sources;
    for (int from = 0; from < size(); ++from)
      if (from != rank() && recv_counts[static_cast<size_t>(from)] > 0) {
        wanted.push_back(key(seq, from, rank()));
        sources.push_back(from);
      }
    const std::vector<Bytes> pieces = take(wanted, seq, "all_to_all");
    for (size_t i = 0; i < pieces.size(); ++i) {
      const size_t from = static_cast<size_t>(sources[i]);
      output.narrow(0, out_offsets[from], recv_counts[from]).copy_(tensor_of(pieces[i], input, recv_counts[from]));
    }
    // Each piece is read by its receiver alone, which removes it.
    for (const std::string& k : wanted) store_->deleteKey(k);
    retire(seq, {});
    return finished_work();
  }

  WorkPtr do_broadcast(at::Tensor& buffer, int root) override {
    cpu_only(buffer);
    const int64_t seq = next_seq_++;
    const std::vector<std::string> keys = {key(seq, root)};
    if (rank() == root) store_->set(keys[0], bytes_of(buffer));
    const std::vector<Bytes> got = take(keys, seq, "broadcast");
    if (rank() != root) buffer.copy_(tensor_of(got[0], buffer, buffer.numel()));
    retire(seq, keys);
    return finished_work();
  }

 private:
  std::string key(int64_t seq, int from, int to = -1) const {
    std::string k = name_ + "/" + std::to_string(seq) + "/" + std::to_string(from);
    if (to >= 0) k += ">" + std::to_string(to);
    return k;
  }

  // Waits for `keys` in slices of a second, so that a rank that failed (the abort key) ends this one
  // promptly and a rank that died ends it at the collective timeout, naming who is missing.
  std::vector<Bytes> take(const std::vector<std::string>& keys, int64_t seq, const char* what) {
    if (keys.empty()) return {};
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      try {
        store_->wait(keys, std::chrono::milliseconds(1000));
        return store_->multiGet(keys);
      } catch (const c10::DistNetworkError& e) {
        ZT_SYSTEM_THROW("rank " << rank() << ": lost the rendezvous store during " << what << " #" << seq
                                << "; rank 0, which serves it, has ended (" << first_line(e.what()) << ")");
      } catch (const c10::DistStoreError&) {
        // a slice ran out; look around
      }
      if (job_aborted())
        ZT_SYSTEM_THROW("rank " << rank() << ": another rank failed (its error is above); " << what << " #" << seq
                                << " abandoned");
      const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > collective_timeout_s()) {
        std::set<int> absent;  // the senders of the keys that never came
        for (const std::string& k : keys)
          if (!store_->check({k})) absent.insert(std::stoi(k.substr(k.rfind('/') + 1)));
        std::string missing;
        for (int r : absent) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
        ZT_SYSTEM_THROW("rank " << rank() << ": " << what << " #" << seq << " did not complete within "
                                << collective_timeout_s() << " s; still waiting for rank(s) " << missing
                                << ", stuck or dead (raise --ddp_timeout if steps are this slow)");
      }
    }
  }

  // The last rank through a collective deletes its keys.
  void retire(int64_t seq, const std::vector<std::string>& keys) {
    const std::string done = name_ + "/" + std::to_string(seq) + "/done";
    if (store_->add(done, 1) < size()) return;
    for (const std::string& k : keys) store_->deleteKey(k);
    store_->deleteKey(done);
  }

  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }
  static void cpu_only(const at::Tensor& t) {
    ZT_CHECK(t.device().is_cpu(), "the store communicator takes CPU tensors (CUDA tensors go through NCCL)");
  }

  c10::intrusive_ptr<c10d::Store> store_;
  std::string name_;
  int64_t next_seq_ = 0;
  int duplicates_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_store_communicator(const LaunchEnv& env) {
  // Waits run in one-second slices (see take()); c10d logs every slice that ends empty as a warning.
  if (FLAGS_caffe2_log_level < 2) FLAGS_caffe2_log_level = 2;  // errors only
  return std::make_unique<StoreCommunicator>(job_store(env, collective_timeout_s()), env.rank, env.world_size, "c");
}

}  // namespace zt::dist
