// Expert parallelism against data parallelism on the same ranks, one forward and backward (issue 31).
// usage: ztune_expert_parallel_probe MODEL_DIR EXPERT_PARALLEL
//
// Every rank draws its own rows (seeded by its rank) and knows every other rank's. The reference is data
// parallelism computed in this process: the whole model runs each rank's rows apart (its own load-balancing
// loss, as data-parallel ranks have), and the gradients add up. The run under test holds 1/N of the experts
// (N = EXPERT_PARALLEL, groups of consecutive ranks), sends each row to its expert's rank by all-to-all and
// back. The adapters are whole on every rank (a rank's expert adapter gradients cover its own experts), so the
// dense and the expert adapters' gradients are both summed over the world, as the data-parallel engine does.
// Checked: the summed loss and every LoRA gradient, fp32, within 1e-5 relative.
// Prints "ok: ..." on rank 0.
#include <ATen/Parallel.h>

#include "core/torch_api.h"

#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/run_context.h"
#include "model/decoder.h"
#include "train/expert_exchange.h"

namespace {

constexpr double kAuxWeight = 5.0;

at::Tensor ids_of(int rank, int64_t vocab, int64_t length, at::Device device) {
  std::mt19937 generator(static_cast<unsigned>(77 + rank));
  std::vector<int64_t> ids;
  for (int64_t t = 0; t < length; ++t) ids.push_back(static_cast<int64_t>(generator() % static_cast<unsigned>(vocab)));
  return at::tensor(ids, at::kLong).unsqueeze(0).to(device);
}

// This rank's objective: the summed token loss plus the weighted load-balancing loss of its rows.
at::Tensor objective(zt::model::DecoderModel& model, const at::Tensor& ids) {
  const at::Tensor positions = at::arange(ids.size(1), at::kLong).unsqueeze(0).to(ids.device());
  const zt::model::ForwardOutput out = model.forward(ids, positions, true, zt::model::layout_from_positions(positions));
  return model.loss(out.hidden, ids).loss_sum + out.load_balancing_loss() * kAuxWeight;
}

zt::model::ModelOptions options_for(int shards, int shard, at::Device device) {
  zt::model::ModelOptions options;
  options.device = device;  // the GPU when one is visible (ZTUNE_SHARED_GPU=1 for several ranks on it)
  options.lora = zt::model::lora_config(8, 16, 0.0);
  options.lora->target_parameters = {"gate_up_proj", "down_proj"};  // the experts, on Qwen2-MoE too
  options.gradient_checkpointing = true;
  options.expert_shards = shards;
  options.expert_shard = shard;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODEL_DIR EXPERT_PARALLEL\n", argv[0]);
    return 2;
  }
  try {
    const std::string model_dir = argv[1];
    const int expert_parallel = std::stoi(argv[2]);
    zt::dist::set_collective_timeout(120);
    zt::dist::RunContext context = zt::dist::RunContext::start();
    at::set_num_threads(1);
    zt::dist::Communicator& world = context.comm();
    const int rank = world.rank(), size = world.size();
    std::unique_ptr<zt::dist::Communicator> group = zt::train::split_expert_group(world, expert_parallel);
    const int shard = group->rank();
    const int64_t length = 40;

    // The reference: data parallelism, every rank's rows through the whole model in this process.
    at::manual_seed(1234);
    zt::model::DecoderModel reference = zt::model::DecoderModel::load(model_dir, options_for(1, 0, context.device()));
    double reference_loss = 0;
    for (int r = 0; r < size; ++r) {
      at::Tensor loss = objective(reference, ids_of(r, reference.config().vocab_size, length, context.device()));
      loss.backward();
      reference_loss += loss.item<double>();
    }
    std::map<std::string, at::Tensor> expected;
    for (auto& [name, tensor] : reference.trainable_parameters()) expected[name] = tensor.grad();

    // Expert parallelism: this rank's share of the experts, its own rows.
    at::manual_seed(1234);  // the same initialisation as the reference, sliced to this share
    zt::model::DecoderModel model = zt::model::DecoderModel::load(model_dir, options_for(expert_parallel, shard, context.device()));
    model.set_expert_exchange(zt::train::expert_exchange(*group));
    at::Tensor loss = objective(model, ids_of(rank, model.config().vocab_size, length, context.device()));
    loss.backward();
    at::Tensor total = loss.detach().to(at::kDouble).reshape({1}).to(world.device());
    world.all_reduce(total)->wait();

    int failures = 0;
    double worst = 0;
    auto check = [&](const std::string& what, const at::Tensor& got, const at::Tensor& want) {
      const double scale = std::max(1e-3, want.abs().max().item<double>());
      const double error = (got - want).abs().max().item<double>() / scale;
      worst = std::max(worst, error);
      if (error > 1e-5 || got.sizes() != want.sizes()) {
        std::fprintf(stderr, "FAIL rank %d: %s differs by %.3g (relative)\n", rank, what.c_str(), error);
        ++failures;
      }
    };
    if (std::abs(total.item<double>() - reference_loss) > 1e-5 * std::abs(reference_loss)) {
      std::fprintf(stderr, "FAIL rank %d: loss %.8f, data parallelism %.8f\n", rank, total.item<double>(), reference_loss);
      ++failures;
    }
    int expert_tensors = 0;
    for (auto& [name, tensor] : model.trainable_parameters()) {
      at::Tensor grad = tensor.grad().clone().to(world.device());
      at::Tensor flat = grad.view({-1});
      const bool expert = name.find(".mlp.experts.") != std::string::npos;
      world.all_reduce(flat)->wait();
      expert_tensors += expert ? 1 : 0;
      // The adapters are whole on every rank; a rank's gradient covers its experts, the reduction all of them.
      check(name, grad.cpu(), expected.at(name).cpu());
    }
    if (expert_tensors == 0) {
      std::fprintf(stderr, "FAIL: no expert adapter was trained\n");
      ++failures;
    }
    int64_t all_failures = failures;
    at::Tensor failed = at::tensor({all_failures}, at::kLong).to(world.device());
    world.all_reduce(failed)->wait();
    failed = failed.cpu();
    if (rank == 0 && failed.item<int64_t>() == 0)
      std::printf("ok: expert parallelism %d on %d ranks equals data parallelism: loss %.6f, %d expert adapter "
                  "tensors, worst relative gradient difference %.2g\n", expert_parallel, size, reference_loss,
                  expert_tensors, worst);
    return failed.item<int64_t>() == 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
}
