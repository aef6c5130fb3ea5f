#include "train/setup.h"

#include "core/torch_api.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <regex>

#include "core/check.h"
#include "core/fs.h"
#include "core/log.h"
#include "dist/link_probe.h"
#include "hub/cache.h"

namespace zt::train {

namespace fs = std::filesystem;


hub::HubAccess hub_access(const TrainConfig& config) {
  hub::HubAccess access;
  access.use_hf = config.model.use_hf;
  access.token = config.push.hub_token;
  access.revision = config.model.revision.value_or("");
  return access;
}

std::vector<data::DatasetSource> resolve_datasets(const std::vector<std::string>& specs, const hub::HubAccess& access) {
  std::vector<data::DatasetSource> sources;
  for (const std::string& spec : specs) {
    data::DatasetSource source = data::parse_dataset_spec(spec);
    if (fs::exists(source.path)) {
      sources.push_back(source);
      continue;
    }
    const std::string ext = fs::path(source.path).extension().string();
    ZT_REQUIRE(ext != ".jsonl" && ext != ".json" && ext != ".csv",
               source.path << ": dataset file not found (check the path; --dataset takes files or hub ids)");
    std::string id = source.path, subset;
    hub::HubAccess hub = access;
    hub.revision.clear();  // --model_revision is the model's; datasets are read at master / main
    hub.use_hf = source.use_hf.value_or(access.use_hf);
    if (size_t colon = id.find(':'); colon != std::string::npos) subset = id.substr(colon + 1), id = id.substr(0, colon);
    const std::vector<std::string> files = hub::dataset_files(id, subset, hub);
    ZT_REQUIRE(files.size() == 1 || !source.sample_count.has_value(),
               "--dataset " << spec << ": '#N' needs a single data file, but the dataset has " << files.size());
    for (const std::string& file : files) sources.push_back({file, source.sample_count, std::nullopt});
  }
  return sources;
}

std::string choose_run_dir(const std::string& parent, dist::Communicator& comm) {
  std::string chosen;
  if (comm.rank() == 0) {
    int largest = 0;
    const std::regex pattern("v([0-9]+)-.*");
    std::error_code ignored;
    if (fs::is_directory(parent, ignored))
      for (const auto& entry : fs::directory_iterator(parent)) {
        std::smatch match;
        const std::string name = entry.path().filename().string();
        if (std::regex_match(name, match, pattern)) largest = std::max(largest, std::stoi(match[1]));
      }
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    chosen = (fs::path(parent) / ("v" + std::to_string(largest + 1) + "-" + stamp)).string();
    ZT_REQUIRE(chosen.size() <= 4096, "--output_dir " << parent << ": the path is too long");
    fs_util::make_directories(chosen, "run folder (--output_dir)");
  }
  return comm.broadcast_text(chosen, 0);
}

std::string cpu_rng_state() {
  at::Tensor state = at::detail::getDefaultCPUGenerator().get_state();
  return std::string(reinterpret_cast<const char*>(state.const_data_ptr<uint8_t>()), static_cast<size_t>(state.numel()));
}

void set_cpu_rng_state(const std::string& bytes) {
  at::Tensor state = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  std::memcpy(state.mutable_data_ptr<uint8_t>(), bytes.data(), bytes.size());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(state);
}

// Before step 1 of a multi-rank run: the bus bandwidth within and between nodes, and a warning when the links
// between nodes will hold the run back (ZTUNE_LINK_PROBE_MB=0 skips it).
void check_links(dist::RunContext& context, int64_t trainable_numel) {
  if (context.launch().world_size < 2) return;
  const int64_t bytes = dist::link_probe_bytes(context.device());
  if (bytes == 0) return;
  // What a step sends per rank, about: the fp32 gradients reduced and the updated weights gathered.
  const double step_bytes = 2.0 * 4.0 * static_cast<double>(trainable_numel);
  const dist::LinkReport report = dist::probe_links(context.comm(), context.launch(), bytes, step_bytes);
  if (context.launch().rank != 0) return;
  ZT_LOG_INFO(report.summary);
  if (!report.warning.empty()) ZT_LOG_WARN(report.warning);
}

// --dry_run true: the estimate of this run on this launch's cluster shape, printed by rank 0; nothing loads.
int dry_run(const TrainConfig& config, dist::RunContext& context, ClusterShape cluster) {
  if (context.launch().rank != 0) return 0;
  const std::string model_dir = hub::resolve_model_dir(config.model.model, hub_access(config));
  EstimateInput input = estimate_input_for(config, resolve_run(config, model::read_model_config(model_dir), cluster));
  input.gpu = context.device().is_cuda();
  const Estimate estimate = estimate_run(input);
  std::printf("%s", format_estimate(input, estimate, estimate_time(input, estimate, Rates{}), Rates{},
                                    "no rates measured in a dry run: see ztune estimate", 0)
                        .c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace zt::train
