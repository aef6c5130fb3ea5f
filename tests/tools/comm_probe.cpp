// Run under mpirun: every collective of the MPI communicator on fp32, bf16, fp64 and int64 buffers,
// with even and uneven (zero-sized) pieces, several in flight at once, checked against values every rank
// can compute alone; and the byte counts against the ring formulas. Exits non-zero naming what differs.
#include <torch/torch.h>

#include <cstdio>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/launch.h"

namespace {

int failures = 0;

void expect(bool ok, const std::string& what, int rank) {
  if (!ok) {
    std::fprintf(stderr, "rank %d: %s\n", rank, what.c_str());
    ++failures;
  }
}

// Rank r's contribution: values that stay exact in bf16 when summed over at most 4 ranks.
at::Tensor contribution(int64_t n, int rank, at::ScalarType type) {
  return (at::arange(n, at::kDouble).remainder(7) + rank + 1).to(type);
}

}  // namespace

int main() {
  zt::dist::LaunchEnv env = zt::dist::detect_launch_env();
  zt::set_process_identity({env.rank, env.world_size, ""});
  zt::dist::init_mpi(env);
  auto comm = zt::dist::make_communicator(env, "cpu");
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
      buffers.push_back(contribution(n, rank, type));
      works.push_back(comm->all_reduce(buffers.back()));
    }
    for (size_t i = works.size(); i-- > 0;) works[i]->wait();
    for (at::Tensor& b : buffers) expect(at::equal(b, expected_sum(b.numel(), type)), name + " all_reduce", rank);
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
      at::Tensor input = contribution(total, rank, type), mine = at::empty({counts[static_cast<size_t>(rank)]}, type);
      comm->reduce_scatter(input, mine, counts)->wait();
      expect(at::equal(mine, expected_sum(total, type).narrow(0, offset, mine.numel())),
             name + (even ? " reduce_scatter" : " uneven reduce_scatter"), rank);
      at::Tensor gathered = at::empty({total}, type);
      comm->all_gather(mine, gathered, counts)->wait();
      expect(at::equal(gathered, expected_sum(total, type)), name + (even ? " all_gather" : " uneven all_gather"), rank);
    }
    at::Tensor root = rank == world - 1 ? contribution(9, 42, type) : at::zeros({9}, type);
    comm->broadcast(root, world - 1)->wait();
    expect(at::equal(root, contribution(9, 42, type)), name + " broadcast", rank);
  }
  // Ring accounting: one fp32 all-reduce of 1000 elements sends 2 (N-1)/N x 4000 bytes.
  comm->stats().reset();
  at::Tensor probe = at::zeros({1000});
  comm->all_reduce(probe)->wait();
  const double expected = 2.0 * (world - 1) / world * 4000;
  expect(comm->stats().total_bytes() == expected, "all_reduce byte count", rank);
  comm->barrier();
  zt::dist::finalize_mpi();
  if (rank == 0 && failures == 0) std::printf("ok: %d ranks\n", world);
  return failures == 0 ? 0 : 1;
}
