// Run under mpirun (MPI), torchrun or RANK/WORLD_SIZE/MASTER_ADDR without MPI (the rendezvous store), or on
// a GPU (NCCL): every collective of the run context's communicator on fp32, bf16, fp64 and int64 buffers,
// with even and uneven (zero-sized) pieces, several in flight at once, a duplicate interleaved, checked
// against values every rank can compute alone; the byte counts against the ring formulas; and the host
// control plane (values of different lengths per rank, a text broadcast); a split by parity. Exits non-zero
// naming what differs.
#include "core/torch_api.h"

#include <algorithm>
#include <cstdio>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/run_context.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: %s\n", rank, what.c_str());
    ++failures;
  }
}

// Rank r's contribution: values that stay exact in bf16 when summed over at most 4 ranks.
at::Tensor contribution(int64_t n, int rank, at::ScalarType type, c10::Device device = c10::kCPU) {
  return (at::arange(n, at::kDouble).remainder(7) + rank + 1).to(type).to(device);
}

bool same(const at::Tensor& a, const at::Tensor& b) { return at::equal(a.cpu(), b.cpu()); }

}  // namespace

int main() {
  zt::dist::set_collective_timeout(60);
  zt::dist::RunContext context = zt::dist::RunContext::start();
  zt::dist::Communicator* comm = &context.comm();
  const c10::Device device = comm->device();
  std::unique_ptr<zt::dist::Communicator> second = comm->duplicate();
  const int rank = comm->rank(), world = comm->size();
  auto expected_sum = [&](int64_t n, at::ScalarType type) {
    at::Tensor sum = at::zeros({n}, at::kDouble);
    for (int r = 0; r < world; ++r) sum += contribution(n, r, at::kDouble);
    return sum.to(type);
  };
  for (at::ScalarType type : {at::kFloat, at::kBFloat16, at::kDouble, at::kLong}) {
    const std::string name = c10::toString(type);
    // Several all-reduces in flight at once, waited in reverse.
    std::vector<at::Tensor> buffers;
    std::vector<zt::dist::WorkPtr> works;
    for (int64_t n : {1, 17, 1000}) {
      buffers.push_back(contribution(n, rank, type, device));
      works.push_back((n == 17 ? second.get() : comm)->all_reduce(buffers.back()));
    }
    for (size_t i = works.size(); i-- > 0;) works[i]->wait();
    for (at::Tensor& b : buffers) expect(same(b, expected_sum(b.numel(), type)), name + " all_reduce", rank);
    if (type == at::kDouble || type == at::kLong) continue;
    // Reduce-scatter and all-gather, even and with some ranks owning nothing.
    for (bool even : {true, false}) {
      std::vector<int64_t> counts;
      for (int r = 0; r < world; ++r) counts.push_back(even ? 5 : (r % 2 == 0 ? 3 + r : 0));
      int64_t total = 0, offset = 0;
      for (int r = 0; r < world; ++r) {
        if (r < rank) offset += counts[static_cast<size_t>(r)];
        total += counts[static_cast<size_t>(r)];
      }
      const auto on_device = at::TensorOptions().dtype(type).device(device);
      at::Tensor input = contribution(total, rank, type, device), mine = at::empty({counts[static_cast<size_t>(rank)]}, on_device);
      comm->reduce_scatter(input, mine, counts)->wait();
      expect(same(mine, expected_sum(total, type).narrow(0, offset, mine.numel())),
             name + (even ? " reduce_scatter" : " uneven reduce_scatter"), rank);
      at::Tensor gathered = at::empty({total}, on_device);
      comm->all_gather(mine, gathered, counts)->wait();
      expect(same(gathered, expected_sum(total, type)), name + (even ? " all_gather" : " uneven all_gather"), rank);
    }
    // All-to-all with uneven pieces, some empty: rank r sends (r + 2 t) % 3 + (t == r) elements to rank t, element i
    // being 1000 r + 100 t + i; on the world and on its duplicate.
    for (zt::dist::Communicator* on : {comm, second.get()}) {
      const int n = on->size(), me = on->rank();
      auto piece = [](int from, int to) { return static_cast<int64_t>((from + 2 * to) % 3 + (to == from)); };
      std::vector<int64_t> send_counts, recv_counts;
      std::vector<double> sent, wanted;
      for (int t = 0; t < n; ++t) {
        send_counts.push_back(piece(me, t));
        for (int64_t i = 0; i < piece(me, t); ++i) sent.push_back(1000.0 * me + 100.0 * t + double(i));
      }
      for (int f = 0; f < n; ++f) {
        recv_counts.push_back(piece(f, me));
        for (int64_t i = 0; i < piece(f, me); ++i) wanted.push_back(1000.0 * f + 100.0 * me + double(i));
      }
      const auto on_device = at::TensorOptions().dtype(type).device(device);
      at::Tensor input = at::tensor(sent, at::kDouble).to(on_device);
      at::Tensor output = at::full({static_cast<int64_t>(wanted.size())}, -1.0, on_device);
      on->all_to_all(input, output, send_counts, recv_counts)->wait();
      expect(same(output, at::tensor(wanted, at::kDouble).to(type)), name + " all_to_all", rank);
    }
    at::Tensor root = rank == world - 1 ? contribution(9, 42, type, device) : at::zeros({9}, at::TensorOptions().dtype(type).device(device));
    comm->broadcast(root, world - 1)->wait();
    expect(same(root, contribution(9, 42, type)), name + " broadcast", rank);
  }
  // The control plane: rank r brings r + 1 values (rank 0 none when there are several), text from the last.
  std::vector<uint64_t> mine;
  for (int i = 0; i < (world > 1 ? rank : 1); ++i) mine.push_back(1000 * static_cast<uint64_t>(rank) + static_cast<uint64_t>(i) + (1ull << 40));
  std::vector<uint64_t> expected_values;
  for (int r = 0; r < world; ++r)
    for (int i = 0; i < (world > 1 ? r : 1); ++i) expected_values.push_back(1000 * static_cast<uint64_t>(r) + static_cast<uint64_t>(i) + (1ull << 40));
  const double before = comm->stats().total_bytes();
  expect(comm->all_gather_values(mine) == expected_values, "all_gather_values", rank);
  const std::string text = std::string("output/v3-20261201-040000/\xc3\xa9") + '\0' + "tail";
  expect(comm->broadcast_text(rank == world - 1 ? text : std::string("x"), world - 1) == text, "broadcast_text", rank);
  expect(comm->broadcast_text("", 0).empty(), "broadcast_text of nothing", rank);
  expect(comm->stats().total_bytes() == before, "the control plane is not counted as training traffic", rank);
  // Ring accounting: one fp32 all-reduce of 1000 elements sends 2 (N-1)/N x 4000 bytes.
  comm->stats().reset();
  at::Tensor probe = at::zeros({1000}, at::TensorOptions().device(device));
  comm->all_reduce(probe)->wait();
  const double expected = 2.0 * (world - 1) / world * 4000;
  expect(comm->stats().total_bytes() == expected, "all_reduce byte count", rank);
  // split: the ranks of each parity, ordered by descending rank (key -rank), as a communicator of their own,
  // interleaved with a collective of the whole world.
  {
    const int color = rank % 2;
    std::unique_ptr<zt::dist::Communicator> part = comm->split(color, -rank);
    std::vector<uint64_t> members;
    for (int r = world - 1; r >= 0; --r)
      if (r % 2 == color) members.push_back(static_cast<uint64_t>(r));
    const auto position = std::find(members.begin(), members.end(), static_cast<uint64_t>(rank)) - members.begin();
    expect(part->size() == static_cast<int>(members.size()) && part->rank() == position, "split: size and rank", rank);
    at::Tensor mine_part = contribution(33, rank, at::kFloat, device), whole = contribution(5, rank, at::kFloat, device);
    zt::dist::WorkPtr on_part = part->all_reduce(mine_part);
    comm->all_reduce(whole)->wait();
    on_part->wait();
    at::Tensor sum = at::zeros({33}, at::kDouble);
    for (uint64_t r : members) sum += contribution(33, static_cast<int>(r), at::kDouble);
    expect(same(mine_part, sum.to(at::kFloat)), "split: all_reduce over the part", rank);
    expect(same(whole, expected_sum(5, at::kFloat)), "split: the whole world's all_reduce beside it", rank);
    expect(part->all_gather_values({static_cast<uint64_t>(rank)}) == members, "split: ranks in key order", rank);
    // An all-to-all within the part (expert parallelism's groups): part rank p sends p + 1 copies of 10 p + q to q.
    {
      const int n = part->size(), me = part->rank();
      std::vector<int64_t> send_counts(static_cast<size_t>(n), me + 1), recv_counts;
      std::vector<float> sent, wanted;
      for (int q = 0; q < n; ++q)
        for (int i = 0; i <= me; ++i) sent.push_back(float(10 * me + q));
      for (int p = 0; p < n; ++p) {
        recv_counts.push_back(p + 1);
        for (int i = 0; i <= p; ++i) wanted.push_back(float(10 * p + me));
      }
      at::Tensor input = at::tensor(sent).to(device), output = at::empty({static_cast<int64_t>(wanted.size())}, input.options());
      part->all_to_all(input, output, send_counts, recv_counts)->wait();
      expect(same(output, at::tensor(wanted)), "split: all_to_all within the part", rank);
    }
    part->barrier();
  }
  comm->barrier();
  second->barrier();
  if (rank == 0 && failures == 0) std::printf("ok: %d ranks (%s on %s)\n", world, comm->backend().c_str(), device.str().c_str());
  return failures == 0 ? 0 : 1;
}
