// The distributed layer within one process: ZeRO config parsing (presets, auto values, errors), the flat
// layout, the engine's AdamW against torch::optim::AdamW, clipping against clip_grad_norm_, non-finite
// skipping and fp16 loss scaling, the single-process communicator, its control plane and the device choice.
// Multi-rank equivalence runs under mpirun (tests/python/check_zero.py).
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "core/check.h"
#include "dist/comm.h"
#include "dist/launch.h"
#include "dist/run_context.h"
#include "dist/zero.h"
#include "dist/zero_config.h"

namespace {

using namespace zt::dist;
using zt::optim::AdamWConfig;

ZeroAutoValues autos(int64_t hidden = 64, std::string dtype = "fp32") {
  ZeroAutoValues values;
  values.hidden_size = hidden;
  values.max_grad_norm = 0.5;
  values.dtype = std::move(dtype);
  return values;
}

TEST(ZeroConfig, PresetsReadLikeDeepSpeedWithAutoValuesFilled) {
  ZeroConfig zero2 = load_zero_config("zero2", autos());
  EXPECT_EQ(zero2.stage, 2);
  EXPECT_EQ(zero2.reduce_bucket_size, 200000000);
  EXPECT_TRUE(zero2.overlap_comm);
  EXPECT_DOUBLE_EQ(zero2.gradient_clipping, 0.5);  // "auto" -> --max_grad_norm
  EXPECT_EQ(zero2.precision, "fp32");
  ZeroConfig zero3 = load_zero_config("zero3", autos(64, "bf16"));
  EXPECT_EQ(zero3.stage, 3);
  EXPECT_EQ(zero3.reduce_bucket_size, 64 * 64);
  EXPECT_EQ(zero3.stage3_param_persistence_threshold, 640);
  EXPECT_EQ(zero3.stage3_prefetch_bucket_size, static_cast<int64_t>(0.9 * 64 * 64));
  EXPECT_EQ(zero3.precision, "bf16");
  EXPECT_EQ(load_zero_config("zero0", autos(64, "fp16")).precision, "fp16");
  EXPECT_EQ(load_zero_config("zero1", autos()).stage, 1);
  // A precision section without "enabled" is off, as in DeepSpeed; "bfloat16" is the older bf16 name.
  EXPECT_EQ(parse_zero_config("{\"fp16\": {\"loss_scale\": 0}, \"bf16\": {\"enabled\": true}}", "a.json", autos()).precision,
            "bf16");
  EXPECT_EQ(parse_zero_config("{\"fp16\": {\"loss_scale\": 0}}", "b.json", autos()).precision, "fp32");
  EXPECT_EQ(parse_zero_config("{\"bfloat16\": {\"enabled\": true}}", "c.json", autos()).precision, "bf16");
}

TEST(ZeroConfig, ShippedFilesEqualTheCompiledPresets) {
  for (int stage = 0; stage < 4; ++stage) {
    const std::string name = "zero" + std::to_string(stage);
    std::ifstream in(std::string(ZTUNE_SOURCE_DIR) + "/configs/" + name + ".json");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), zero_preset_json(name)) << name;
  }
}

TEST(ZeroConfig, BadConfigsAreNamedErrors) {
  auto message = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const zt::Error& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { load_zero_config("zero3_offload", autos()); }).find("offload is not supported"), std::string::npos);
  EXPECT_NE(message([] { load_zero_config("zero9", autos()); }).find("neither a preset"), std::string::npos);
  EXPECT_NE(message([] { parse_zero_config("{\"zero_optimization\": {\"stage\": 5}}", "x.json", autos()); })
                .find("x.json: \"stage\" must be 0, 1, 2 or 3"),
            std::string::npos);
  EXPECT_NE(message([] { parse_zero_config("{\"zero_optimization\": {\"stage\": 2.5}}", "w.json", autos()); })
                .find("w.json: \"stage\" must be 0, 1, 2 or 3"),
            std::string::npos);
  EXPECT_NE(message([] { parse_zero_config("{\"fp16\": {\"enabled\": true, \"loss_scale_window\": 0}}", "v.json", autos()); })
                .find("v.json: \"fp16.loss_scale_window\" must be positive"),
            std::string::npos);
  EXPECT_NE(message([] { parse_zero_config("{\"zero_optimization\": ", "y.json", autos()); }).find("y.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(message([] { parse_zero_config("{\"zero_optimization\": {\"reduce_bucket_size\": \"big\"}}", "z.json", autos()); })
                .find("\"reduce_bucket_size\" must be a non-negative number"),
            std::string::npos);
  EXPECT_NE(message([] { load_zero_config("/nonexistent/ds.json", autos()); }).find("cannot open"), std::string::npos);
  EXPECT_NE(message([] {
              parse_zero_config("{\"zero_optimization\": {\"offload_optimizer\": {\"device\": \"cpu\"}}}", "o.json", autos());
            }).find("o.json: \"offload_optimizer\" to 'cpu' is not supported"),
            std::string::npos);
}

TEST(FlatLayout, PadsToTwiceTheWorldAndMarksDecay) {
  std::vector<std::pair<std::string, at::Tensor>> params = {{"a.lora_A.weight", at::zeros({3, 5})},
                                                            {"b.bias", at::zeros({7})},
                                                            {"model.norm.weight", at::zeros({2})}};
  FlatLayout layout = FlatLayout::build(params, 3);
  EXPECT_EQ(layout.numel, 24);
  EXPECT_EQ(layout.padded, 24);
  EXPECT_EQ(FlatLayout::build(params, 4).padded, 24);
  EXPECT_EQ(FlatLayout::build(params, 5).padded, 30);
  EXPECT_EQ(layout.entries[1].offset, 15);
  EXPECT_TRUE(layout.entries[0].decay);
  EXPECT_FALSE(layout.entries[1].decay);
  EXPECT_FALSE(layout.entries[2].decay);
}

// Three parameters with gradients set by hand, stepped by the engine and by torch's AdamW.
struct Problem {
  std::vector<std::pair<std::string, at::Tensor>> params;
  std::vector<at::Tensor> copies;
  explicit Problem(int seed) {
    torch::manual_seed(seed);
    for (auto [name, shape] : {std::make_pair("x.lora_A.weight", std::vector<int64_t>{4, 6}),
                               std::make_pair("x.lora_B.weight", std::vector<int64_t>{6, 4}),
                               std::make_pair("y.bias", std::vector<int64_t>{5})}) {
      at::Tensor p = at::randn(shape).requires_grad_(true);
      params.emplace_back(name, p);
      copies.push_back(p.detach().clone().requires_grad_(true));
    }
  }
};

void set_gradients(Problem& problem, int step, double scale) {
  for (size_t i = 0; i < problem.params.size(); ++i) {
    torch::manual_seed(100 * step + static_cast<int>(i));
    at::Tensor g = at::randn(problem.params[i].second.sizes()) * scale;
    problem.params[i].second.mutable_grad() = g.clone();
    problem.copies[i].mutable_grad() = g.clone();
  }
}

TEST(ZeroEngine, StepEqualsTorchAdamWWithDecayGroupsAndClipping) {
  for (double clip : {0.0, 0.3}) {
    Problem problem(1);
    auto comm = make_single_communicator();
    ZeroConfig config;
    config.gradient_clipping = clip;
    AdamWConfig adam{0.9, 0.95, 1e-8, 0.1};
    ZeroEngine engine(*comm, config, problem.params, adam);
    std::vector<at::Tensor> decayed = {problem.copies[0], problem.copies[1]}, plain = {problem.copies[2]};
    torch::optim::AdamW reference(
        {torch::optim::OptimizerParamGroup(decayed,
                                           std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.1))),
         torch::optim::OptimizerParamGroup(plain, std::make_unique<torch::optim::AdamWOptions>(
                                                      torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).eps(1e-8).weight_decay(0)))},
        torch::optim::AdamWOptions(0.01));
    for (int step = 0; step < 5; ++step) {
      set_gradients(problem, step, 2.0);
      engine.after_backward();
      StepResult result = engine.step(0.01, 0.5);  // the engine scales; do the same for torch
      for (at::Tensor& c : problem.copies) c.mutable_grad().mul_(0.5);
      double norm = torch::nn::utils::clip_grad_norm_(problem.copies, clip > 0 ? clip : 1e30);
      EXPECT_NEAR(result.grad_norm, norm, 1e-5 * norm);
      reference.step();
    }
    for (size_t i = 0; i < problem.copies.size(); ++i)
      EXPECT_LE((problem.params[i].second - problem.copies[i]).abs().max().item<double>(), 1e-6) << "clip " << clip;
  }
}

TEST(ZeroEngine, NonFiniteGradientsSkipTheStepAndLowerTheFp16Scale) {
  Problem problem(2);
  auto comm = make_single_communicator();
  ZeroConfig config;
  config.precision = "fp16";
  config.initial_scale_power = 4;
  config.hysteresis = 2;
  ZeroEngine engine(*comm, config, problem.params, AdamWConfig{});
  EXPECT_DOUBLE_EQ(engine.loss_scale(), 16);
  at::Tensor before = problem.params[0].second.detach().clone();
  for (int overflow = 0; overflow < 2; ++overflow) {
    set_gradients(problem, 0, 1.0);
    problem.params[1].second.mutable_grad()[0][0] = std::numeric_limits<float>::infinity();
    engine.after_backward();
    EXPECT_TRUE(engine.step(0.1, 1.0).skipped);
  }
  EXPECT_TRUE(at::equal(before, problem.params[0].second.detach()));
  EXPECT_EQ(engine.steps_taken(), 0);
  EXPECT_DOUBLE_EQ(engine.loss_scale(), 8);  // halved after `hysteresis` overflows
  set_gradients(problem, 0, 1.0);
  problem.params[1].second.mutable_grad()[0][0] = std::numeric_limits<float>::quiet_NaN();
  engine.after_backward();
  EXPECT_TRUE(engine.step(0.1, 1.0).skipped);
  EXPECT_DOUBLE_EQ(engine.loss_scale(), 4);  // and at every overflow after that until a clean window
  set_gradients(problem, 1, 1.0);
  engine.after_backward();
  EXPECT_FALSE(engine.step(0.1, 1.0).skipped);
  EXPECT_FALSE(at::equal(before, problem.params[0].second.detach()));
}

TEST(ZeroEngine, BackwardHooksFillBucketsInStageTwo) {
  // Stage 2 in one process: gradients reach the partition through the hooks, in several buckets.
  torch::manual_seed(3);
  at::Tensor a = at::randn({8, 3}).requires_grad_(true), b = at::randn({3, 8}).requires_grad_(true);
  at::Tensor a0 = a.detach().clone().requires_grad_(true), b0 = b.detach().clone().requires_grad_(true);
  auto comm = make_single_communicator();
  ZeroConfig two, zero;
  two.stage = 2;
  two.reduce_bucket_size = 10;
  ZeroEngine staged(*comm, two, {{"a.weight", a}, {"b.weight", b}}, AdamWConfig{});
  ZeroEngine plain(*comm, zero, {{"a.weight", a0}, {"b.weight", b0}}, AdamWConfig{});
  at::Tensor x = at::randn({5, 8});
  for (int micro = 0; micro < 2; ++micro) {  // gradient accumulation over two micro-batches
    at::matmul(at::matmul(x, a), b).pow(2).sum().backward();
    staged.after_backward();
    at::matmul(at::matmul(x, a0), b0).pow(2).sum().backward();
    plain.after_backward();
  }
  EXPECT_NEAR(staged.step(0.01, 0.1).grad_norm, plain.step(0.01, 0.1).grad_norm, 1e-4);
  EXPECT_LE((a - a0).abs().max().item<double>(), 1e-7);
  EXPECT_LE((b - b0).abs().max().item<double>(), 1e-7);
}

TEST(Communicator, SingleProcessCopiesAndCountsNothing) {
  auto comm = make_single_communicator();
  at::Tensor in = at::arange(6, at::kFloat), out = at::zeros({6});
  comm->reduce_scatter(in, out, {6})->wait();
  EXPECT_TRUE(at::equal(in, out));
  comm->all_reduce(in)->wait();
  EXPECT_EQ(comm->stats().total_bytes(), 0);
  EXPECT_EQ(comm->stats().calls[static_cast<size_t>(Collective::kAllReduce)], 1);
}

TEST(Communicator, SingleProcessControlPlaneReturnsItsOwnValues) {
  auto comm = make_single_communicator();
  EXPECT_EQ(comm->all_gather_values({3, 1ull << 63, 7}), (std::vector<uint64_t>{3, 1ull << 63, 7}));
  EXPECT_TRUE(comm->all_gather_values({}).empty());
  const std::string text("run\0folder", 10);
  EXPECT_EQ(comm->broadcast_text(text, 0), text);
}

LaunchEnv node(int local_rank, int local_world_size) {
  LaunchEnv env;
  env.launcher = "env";
  env.world_size = 2 * local_world_size;
  env.rank = local_world_size + local_rank;
  env.local_rank = local_rank;
  env.local_world_size = local_world_size;
  env.node_rank = 1;
  return env;
}

TEST(RunContext, DeviceIsTheLocalRanksGpuOrTheCpu) {
  EXPECT_EQ(choose_device(node(0, 1), "", 0), c10::Device(c10::kCPU));
  EXPECT_EQ(choose_device(node(0, 1), "auto", 0), c10::Device(c10::kCPU));
  EXPECT_EQ(choose_device(node(3, 4), "auto", 8), c10::Device(c10::kCUDA, 3));
  EXPECT_EQ(choose_device(node(1, 2), "cuda", 2), c10::Device(c10::kCUDA, 1));
  EXPECT_EQ(choose_device(node(1, 2), "cpu", 2), c10::Device(c10::kCPU));  // forced
  // Slurm gave each task its own GPU: the one it sees.
  EXPECT_EQ(choose_device(node(3, 4), "auto", 1, true), c10::Device(c10::kCUDA, 0));
  // Validation on one GPU (ZTUNE_SHARED_GPU=1): ranks share what is visible.
  EXPECT_EQ(choose_device(node(3, 4), "auto", 1, false, "", true), c10::Device(c10::kCUDA, 0));
  EXPECT_EQ(choose_device(node(3, 4), "auto", 2, false, "", true), c10::Device(c10::kCUDA, 1));
  EXPECT_EQ(choose_device(node(3, 4), "auto", 0, false, "", true), c10::Device(c10::kCPU));
}

TEST(RunContext, MoreRanksThanGpusIsAnErrorNamingBoth) {
  try {
    choose_device(node(0, 4), "auto", 2);
    FAIL() << "4 ranks on 2 GPUs were accepted";
  } catch (const zt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("4 ranks run on this node"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("only 2 GPUs are visible"), std::string::npos) << e.what();
  }
  EXPECT_THROW(choose_device(node(0, 1), "cuda", 0, false, "no CUDA-capable device is detected"), zt::Error);
  EXPECT_THROW(choose_device(node(0, 1), "gpu", 1), zt::Error);
}

}  // namespace

// Slurm's compressed per-node task counts, as srun exports them without --ntasks-per-node.
TEST(LaunchEnv, SlurmTasksPerNodeLists) {
  EXPECT_EQ(slurm_tasks_on_node("V", "4", 0), 4);
  EXPECT_EQ(slurm_tasks_on_node("V", "2(x3),1", 0), 2);
  EXPECT_EQ(slurm_tasks_on_node("V", "2(x3),1", 2), 2);
  EXPECT_EQ(slurm_tasks_on_node("V", "2(x3),1", 3), 1);
  EXPECT_EQ(slurm_tasks_on_node("V", "3,1", 1), 1);
  EXPECT_THROW(slurm_tasks_on_node("V", "2(x3),1", 4), zt::Error);  // fewer nodes than SLURM_NODEID
  for (const char* bad : {"", "x", "2(x)", "2(3)", "2(x3", "2,,1", "-1", "0", "2(x0)", "2x"})
    EXPECT_THROW(slurm_tasks_on_node("V", bad, 0), zt::Error) << bad;
}

// The launch environment from the variables each launcher exports (set here, restored after).
class LaunchVariables {
 public:
  explicit LaunchVariables(std::vector<std::pair<std::string, std::string>> values) {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_LOCAL_RANK",
                             "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_NODE_RANK", "SLURM_NTASKS", "SLURM_PROCID",
                             "SLURM_LOCALID", "SLURM_NODEID", "SLURM_NTASKS_PER_NODE", "SLURM_STEP_TASKS_PER_NODE",
                             "SLURM_TASKS_PER_NODE", "SLURM_STEP_NUM_NODES", "SLURM_NNODES", "WORLD_SIZE", "RANK",
                             "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE"})
      values.emplace_back(name, "");  // cleared unless given (the first setting of a name wins below)
    for (auto it = values.begin(); it != values.end(); ++it) {
      if (saved_.count(it->first)) continue;
      const char* old = std::getenv(it->first.c_str());
      saved_[it->first] = old ? std::optional<std::string>(old) : std::nullopt;
      if (it->second.empty()) ::unsetenv(it->first.c_str());
      else ::setenv(it->first.c_str(), it->second.c_str(), 1);
    }
  }
  ~LaunchVariables() {
    for (const auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

TEST(LaunchEnv, ReadFromEachLauncher) {
  {  // srun -N2 -n3 without --ntasks-per-node: node 1 runs one task
    LaunchVariables vars({{"SLURM_NTASKS", "3"}, {"SLURM_PROCID", "2"}, {"SLURM_LOCALID", "0"}, {"SLURM_NODEID", "1"},
                          {"SLURM_STEP_NUM_NODES", "2"}, {"SLURM_STEP_TASKS_PER_NODE", "2,1"},
                          {"SLURM_TASKS_PER_NODE", "2(x2)"}});
    const LaunchEnv env = detect_launch_env();
    EXPECT_EQ(env.launcher, "srun");
    EXPECT_EQ(env.rank, 2);
    EXPECT_EQ(env.node_rank, 1);
    EXPECT_EQ(env.num_nodes, 2);
    EXPECT_EQ(env.local_world_size, 1);  // the step's list, not the job's
    EXPECT_FALSE(env.host.empty());
  }
  {  // --ntasks-per-node wins
    LaunchVariables vars({{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "3"}, {"SLURM_NODEID", "1"}, {"SLURM_NNODES", "2"},
                          {"SLURM_NTASKS_PER_NODE", "2"}, {"SLURM_TASKS_PER_NODE", "3,1"}});
    EXPECT_EQ(detect_launch_env().local_world_size, 2);
  }
  {  // mpirun: OMPI_COMM_WORLD_NODE_RANK is the rank within the node, so the node is left for init_mpi to find
    LaunchVariables vars({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                          {"OMPI_COMM_WORLD_NODE_RANK", "1"}});
    const LaunchEnv env = detect_launch_env();
    EXPECT_EQ(env.launcher, "mpirun");
    EXPECT_EQ(env.local_world_size, 2);
    EXPECT_EQ(env.node_rank, -1);
    EXPECT_EQ(env.num_nodes, -1);
  }
  {  // torchrun
    LaunchVariables vars({{"WORLD_SIZE", "8"}, {"RANK", "5"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                          {"GROUP_RANK", "1"}});
    const LaunchEnv env = detect_launch_env();
    EXPECT_EQ(env.node_rank, 1);
    EXPECT_EQ(env.num_nodes, 2);
  }
  {
    LaunchVariables vars({{"SLURM_NTASKS", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_STEP_TASKS_PER_NODE", "2(x"}});
    EXPECT_THROW(detect_launch_env(), zt::Error);
  }
}
