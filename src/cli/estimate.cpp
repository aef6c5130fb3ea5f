// `ztune estimate SFT_FLAGS [--nnodes N] [--nproc_per_node G] [--measure true|false] [--matrix_tflops X]
//                 [--intra_node_gbps Y] [--inter_node_gbps Z] [--device_memory_gib M]`
// The memory, traffic and step time of an sft command line on a cluster shape, before anything is submitted.
#include "core/torch_api.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/sft_command.h"
#include "core/check.h"
#include "core/json_file.h"
#include "dist/backend_info.h"
#include "dist/launch.h"
#include "dist/link_probe.h"
#include "dist/run_context.h"
#include "hub/cache.h"
#include "model/config.h"
#include "train/estimate.h"
#include "train/train_config.h"

namespace zt::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kHelp = R"(usage: ztune estimate SFT_FLAGS [estimate flags]

Memory per rank, bytes sent per step and the step time of a `ztune sft` command line on a cluster shape,
without loading weights or data. SFT_FLAGS are the sft flags (--model a folder, a config.json or a cached
hub id; --train_type, --deepspeed, --max_length, --per_device_train_batch_size,
--gradient_accumulation_steps, --packing, --torch_dtype/--bf16, --gradient_checkpointing, --lora_rank,
--target_modules, ...); --dataset may be left out.

estimate flags:
  --nnodes N              nodes (default: the launch environment's, else 1)
  --nproc_per_node G      ranks per node (default: the launch environment's, else 1)
  --measure BOOL          measure the matrix rate here, and under mpirun/srun with several ranks the intra- and
                          inter-node bus bandwidth (default: true)
  --matrix_tflops X       dense matmul rate per rank in the training dtype (overrides the measurement)
  --intra_node_gbps Y     bus bandwidth within a node, GB/s (overrides the measurement)
  --inter_node_gbps Z     bus bandwidth between nodes, GB/s: the node's network, all NICs (100 Gb/s = 12.5)
  --device_memory_gib M   memory of one device, for the lowest ZeRO stage that fits (default: 80)
  --device cuda|cpu       the kernels the run will use (default: cuda; cpu: libtorch's CPU kernels, whose
                          attention keeps repeated k/v heads)
  --json PATH             also write the numbers as JSON
)";

struct EstimateFlags {
  std::optional<int> nnodes, nproc_per_node;
  bool measure = true;
  std::optional<double> matrix_tflops, intra_node_gbps, inter_node_gbps, device_memory_gib;
  std::optional<std::string> json_path;
  std::string device = "cuda";
};

std::string flag_name(std::string text) {
  text = text.substr(2);
  std::replace(text.begin(), text.end(), '-', '_');
  return text;
}

// Takes the estimate's own flags out of `argv`; the rest are sft flags.
EstimateFlags take_estimate_flags(std::vector<std::string>& argv) {
  EstimateFlags flags;
  std::vector<std::string> rest;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.rfind("--", 0) != 0) {
      rest.push_back(word);
      continue;
    }
    std::string name = word, value;
    const size_t equals = word.find('=');
    bool inline_value = equals != std::string::npos;
    if (inline_value) name = word.substr(0, equals), value = word.substr(equals + 1);
    name = flag_name(name);
    static const std::set<std::string> own = {"nnodes", "nproc_per_node", "measure", "matrix_tflops",
                                              "intra_node_gbps", "inter_node_gbps", "device_memory_gib", "json", "device"};
    if (own.count(name) == 0) {
      rest.push_back(word);
      continue;
    }
    if (!inline_value) {
      ZT_REQUIRE(i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0, "--" << name << " needs a value");
      value = argv[++i];
    }
    // A finite number >= low (and <= high); counts are whole numbers.
    auto number = [&](double low, double high = 1e12, bool whole = false) {
      double parsed = 0;
      try {
        size_t used = 0;
        parsed = std::stod(value, &used);
        ZT_REQUIRE(used == value.size(), "");
      } catch (const std::exception&) {
        ZT_THROW("--" << name << " '" << value << "' is not a number");
      }
      ZT_REQUIRE(std::isfinite(parsed) && parsed >= low && parsed <= high && (!whole || parsed == std::floor(parsed)),
                 "--" << name << " must be " << (whole ? "a whole number " : "a number ") << "in [" << low << ", "
                      << high << "], got " << value);
      return parsed;
    };
    if (name == "nnodes") flags.nnodes = static_cast<int>(number(1, 1e6, true));
    if (name == "nproc_per_node") flags.nproc_per_node = static_cast<int>(number(1, 1024, true));
    if (name == "matrix_tflops") flags.matrix_tflops = number(1e-9);
    if (name == "intra_node_gbps") flags.intra_node_gbps = number(1e-9);
    if (name == "inter_node_gbps") flags.inter_node_gbps = number(1e-9);
    if (name == "device_memory_gib") flags.device_memory_gib = number(1e-9);
    if (name == "json") flags.json_path = value;
    if (name == "device") {
      ZT_REQUIRE(value == "cuda" || value == "cpu", "--device takes cuda or cpu, got '" << value << "'");
      flags.device = value;
    }
    if (name == "measure") {
      ZT_REQUIRE(value == "true" || value == "false", "--measure takes true or false, got '" << value << "'");
      flags.measure = value == "true";
    }
  }
  argv = rest;
  return flags;
}

// Dense matmul rate of this process's device in `dtype`, TFLOP/s: square products, the best of a few.
double measure_matrix_tflops(c10::Device device, at::ScalarType dtype) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor a = at::randn({n, n}, options), b = at::randn({n, n}, options);
  at::mm(a, b).sum().item<float>();  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    at::Tensor c;
    const int inner = device.is_cuda() ? 10 : 1;
    for (int i = 0; i < inner; ++i) c = at::mm(a, b);
    c.sum().item<float>();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / inner);
  }
  return 2.0 * double(n) * double(n) * double(n) / best / 1e12;
}

std::string resolve_model_config_dir(const std::string& model, bool use_hf) {
  if (fs::is_regular_file(model)) {
    ZT_REQUIRE(fs::path(model).filename() == "config.json", "--model " << model << ": a file must be a config.json");
    return fs::path(model).parent_path().empty() ? "." : fs::path(model).parent_path().string();
  }
  return hub::resolve_model_dir(model, use_hf);
}

}  // namespace

int run_estimate(const std::vector<std::string>& argv_in) {
  if (help_requested(argv_in)) {
    print_help(kHelp);
    return 0;
  }
  std::vector<std::string> argv = argv_in;
  const EstimateFlags flags = take_estimate_flags(argv);
  const bool has_dataset = std::any_of(argv.begin(), argv.end(), [](const std::string& word) {
    return word == "--dataset" || word.rfind("--dataset=", 0) == 0;
  });
  if (!has_dataset) {
    argv.push_back("--dataset");
    argv.push_back("(not read by ztune estimate)");
  }
  SftCommand command;
  parse_command(sft_table(), argv, command);
  const train::TrainConfig config = resolve_sft(std::move(command), nlohmann::json::object());
  const model::ModelConfig model = model::read_model_config(resolve_model_config_dir(config.model.model, config.model.use_hf));

  // Under mpirun/srun the nodes are known once MPI is up; with --measure the ranks also probe their links.
  dist::LaunchEnv launch = dist::detect_launch_env();
  std::optional<dist::RunContext> context;
  const bool probe = flags.measure && launch.world_size > 1 &&
                     (!flags.intra_node_gbps || (launch.num_nodes > 1 && !flags.inter_node_gbps));
  if (probe) {
    context.emplace(dist::RunContext::start());
    launch = context->launch();
  } else if (launch.world_size > 1) {
    dist::init_mpi(launch);
  }
  train::ClusterShape cluster{flags.nnodes.value_or(launch.num_nodes), flags.nproc_per_node.value_or(launch.local_world_size)};
  const train::ResolvedRun run = train::resolve_run(config, model, cluster);
  train::EstimateInput input = train::estimate_input_for(config, run);
  input.gpu = flags.device == "cuda";
  const train::Estimate estimate = train::estimate_run(input);

  train::Rates rates;
  std::vector<std::string> sources;
  const dist::BackendInfo info = dist::backend_info();
  const bool gpu = info.cuda_built && info.cuda_device_count > 0;
  const c10::Device device = gpu ? c10::Device(c10::kCUDA, std::max(0, launch.local_rank) % std::max(1, info.cuda_device_count)) : c10::Device(c10::kCPU);
  const at::ScalarType dtype = run.dtype;  // the training dtype, as the run resolves it
  if (flags.matrix_tflops) {
    rates.matrix_tflops = *flags.matrix_tflops;
    sources.push_back("matrix rate given");
  } else if (flags.measure) {
    rates.matrix_tflops = measure_matrix_tflops(device, dtype);
    sources.push_back(std::string("matrix rate measured on ") + (gpu ? "this GPU" : "this CPU"));
  }
  const bool rank0 = launch.rank == 0;
  if (probe) {
    const dist::LinkReport report = dist::probe_links(context->comm(), context->launch(),
                                                      std::max<int64_t>(dist::link_probe_bytes(context->device()), 1 << 20),
                                                      estimate.traffic.total());
    for (const dist::LinkRate& link : report.links) {
      if (link.link == "intra-node") rates.intra_node_gbps = link.all_reduce_gbps;
      if (link.link == "inter-node") rates.inter_node_gbps = link.all_reduce_gbps;
    }
    sources.push_back("links measured by this launch");
  }
  if (flags.intra_node_gbps) rates.intra_node_gbps = *flags.intra_node_gbps, sources.push_back("intra-node bandwidth given");
  if (flags.inter_node_gbps) rates.inter_node_gbps = *flags.inter_node_gbps, sources.push_back("inter-node bandwidth given");
  if (!rank0) return 0;
  if (cluster.world() > 1 && rates.intra_node_gbps <= 0 && cluster.ranks_per_node > 1)
    sources.push_back("intra-node bandwidth unknown: pass --intra_node_gbps or run under mpirun");
  if (cluster.nodes > 1 && rates.inter_node_gbps <= 0)
    sources.push_back("inter-node bandwidth unknown: pass --inter_node_gbps or run under mpirun on the nodes");
  std::string source;
  for (const std::string& s : sources) source += (source.empty() ? "" : "; ") + s;

  int64_t device_bytes = static_cast<int64_t>(flags.device_memory_gib.value_or(80.0) * 1024 * 1024 * 1024);
  const train::TimeEstimate time = train::estimate_time(input, estimate, rates);
  std::printf("%s", train::format_estimate(input, estimate, time, rates, source, device_bytes).c_str());
  if (flags.json_path) {
    nlohmann::json record = train::estimate_json(input, estimate, time, rates);
    record["lowest_fitting_stage"] = train::lowest_fitting_stage(input, device_bytes);
    record["device_memory_bytes"] = device_bytes;
    write_json_file(*flags.json_path, record);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace zt::cli
