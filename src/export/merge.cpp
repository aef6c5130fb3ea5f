#include "export/merge.h"

#include <ATen/ATen.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/progress.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors_torch.h"
#include "model/config.h"
#include "model/family/family.h"
#include "model/lora/peft_adapter.h"
#include "model/weight_names.h"

namespace zt::exporting {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using model::kPeftPrefix;

std::string dtype_name(c10::ScalarType dtype) {
  return dtype == at::kBFloat16 ? "bfloat16" : dtype == at::kHalf ? "float16" : "float32";
}

struct AdapterParts {
  std::map<std::string, std::pair<at::Tensor, at::Tensor>> lora;  // module path -> (A, B)
  std::map<std::string, at::Tensor> replaced;                      // HF weight name -> full tensor
  std::map<std::string, bool> used;
};

AdapterParts split_adapter(const std::string& adapter_dir) {
  AdapterParts parts;
  for (auto& [name, tensor] : model::read_adapter_tensors(adapter_dir)) {
    ZT_REQUIRE(model::is_peft_name(name), adapter_dir << ": tensor '" << name << "' does not start with " << kPeftPrefix
                                                        << "; not a PEFT adapter");
    const std::string rest = model::without_peft_prefix(name);
    parts.used[name] = false;
    auto ends_with = [&](const std::string& suffix) {
      return rest.size() > suffix.size() && rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".lora_A.weight"))
      parts.lora[rest.substr(0, rest.size() - 14)].first = tensor;
    else if (ends_with(".lora_B.weight"))
      parts.lora[rest.substr(0, rest.size() - 14)].second = tensor;
    else
      parts.replaced[rest] = tensor;
  }
  for (const auto& [path, pair] : parts.lora)
    ZT_REQUIRE(pair.first.defined() && pair.second.defined(),
               adapter_dir << ": module '" << path << "' has only one of lora_A and lora_B");
  return parts;
}

// Where a base weight's update comes from when its adapter is on stacked experts (PEFT's target_parameters): the
// stacked parameter's adapter, and the expert and the rows of it the weight holds (the hub stores experts one
// matrix per expert and part; a stacked file holds them all: expert -1).
struct ExpertUpdate {
  std::string adapter_path;  // the adapter's module path (its lora_A.weight, lora_B.weight)
  int64_t experts = 0, expert = -1, row = 0, rows = 0;
  double scaling = 0;
};

std::map<std::string, ExpertUpdate> expert_updates(const std::string& base_dir, const model::LoraConfig& adapter) {
  std::map<std::string, ExpertUpdate> updates;
  if (adapter.target_parameters.empty()) return updates;
  const model::ModelConfig config = model::read_model_config(base_dir);
  const model::LoraConfig lora = model::resolve_lora_targets(adapter, config);
  const std::vector<model::LayerSpec> plan = model::layer_plan(config);
  for (int64_t l = 0; l < config.num_layers; ++l)
    for (size_t b = 0; b < model::LayerSpec::kBlocks; ++b) {
      const model::BlockSpec& block = *plan[static_cast<size_t>(l)].block(b);
      for (size_t i = 0; i < block.linears.size(); ++i) {
        const model::LinearSpec& spec = block.linears[i];
        if (!spec.stacked()) continue;
        const std::string adapter_path = model::lora_path(block, i, l, lora);
        if (adapter_path.empty()) continue;
        const std::string path = model::module_path(l, block.path, spec.name);
        const double scaling = lora.scaling_at(spec.adapter_key(path));
        updates[spec.weight_name(path)] = {adapter_path, spec.experts, -1, 0, spec.out, scaling};
        const int64_t rows = spec.out / static_cast<int64_t>(spec.parts.size());
        for (int64_t e = 0; e < spec.experts; ++e)
          for (size_t p = 0; p < spec.parts.size(); ++p)
            updates[spec.piece_name(path, e, spec.parts[p])] = {
                adapter_path, spec.experts, e, static_cast<int64_t>(p) * rows, rows, scaling};
      }
    }
  return updates;
}

// The update of one expert's rows (or, expert -1, of all experts stacked) from the stacked adapter (A [E r, in],
// expert e's rows at e r; B [out, r E], expert e's columns at j E + e).
at::Tensor expert_delta(const ExpertUpdate& update, const at::Tensor& a, const at::Tensor& b) {
  const int64_t E = update.experts, rank = a.size(0) / E;
  const at::Tensor a3 = a.view({E, rank, a.size(1)}), b3 = b.view({b.size(0), rank, E}).permute({2, 0, 1});
  if (update.expert < 0) return at::bmm(b3, a3) * update.scaling;
  return at::matmul(b3.select(0, update.expert).narrow(0, update.row, update.rows), a3.select(0, update.expert)) *
         update.scaling;
}

}  // namespace

uint64_t parse_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) || text[digits] == '.')) ++digits;
  ZT_REQUIRE(digits > 0, "--max_shard_size '" << text << "': expected a size such as 5GB, 500MB or 2GiB");
  const double number = std::stod(text.substr(0, digits));
  std::string unit = text.substr(digits);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  static const std::map<std::string, double> units = {{"", 1},          {"B", 1},         {"KB", 1e3},
                                                      {"MB", 1e6},      {"GB", 1e9},      {"TB", 1e12},
                                                      {"KIB", 1024.0},  {"MIB", 1048576.0}, {"GIB", 1073741824.0}};
  auto found = units.find(unit);
  ZT_REQUIRE(found != units.end(), "--max_shard_size '" << text << "': unknown unit '" << text.substr(digits)
                                                        << "' (use B, KB, MB, GB, KiB, MiB or GiB)");
  ZT_REQUIRE(number * found->second >= 1, "--max_shard_size '" << text << "' must be at least one byte");
  return static_cast<uint64_t>(number * found->second);
}

std::optional<c10::ScalarType> parse_dtype(const std::string& name) {
  if (name.empty() || name == "auto") return std::nullopt;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  if (name == "float16" || name == "fp16") return at::kHalf;
  if (name == "float32" || name == "fp32") return at::kFloat;
  ZT_THROW("--torch_dtype '" << name << "': expected bfloat16, float16 or float32");
}

int merge_lora(const MergeOptions& options) {
  const fs::path base(options.base_dir), out(options.out_dir);
  ZT_REQUIRE(fs::exists(base / "config.json"), options.base_dir << ": not a model folder (no config.json)");
  std::error_code ignored;
  ZT_REQUIRE(!fs::equivalent(base, out, ignored), "the merged model cannot be written into the base folder "
                                                  << options.base_dir << "; pass another --output_dir");
  if (fs::exists(out)) {
    ZT_REQUIRE(options.exist_ok, options.out_dir << " already exists; pass --exist_ok true to write into it");
    for (const auto& entry : fs::directory_iterator(out))  // stale shards of an earlier merge would confuse loaders
      if (entry.path().extension() == ".safetensors" || entry.path().filename() == "model.safetensors.index.json")
        fs::remove(entry.path());
  }
  fs::create_directories(out);

  const model::LoraConfig config = model::read_adapter_config(options.adapter_dir);
  AdapterParts parts = split_adapter(options.adapter_dir);
  const st::Checkpoint weights = st::Checkpoint::open(options.base_dir);
  const std::map<std::string, ExpertUpdate> experts = expert_updates(options.base_dir, config);

  // Plan the shards from the headers: each tensor's output size, in name order.
  struct Planned {
    std::string name;
    c10::ScalarType dtype;
  };
  std::vector<std::vector<Planned>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (const std::string& name : weights.names()) {
    const at::Tensor probe = st::load_tensor(weights, name);  // a view over the mapped file
    const c10::ScalarType dtype = options.dtype.value_or(probe.scalar_type());
    const uint64_t bytes = static_cast<uint64_t>(probe.numel()) * c10::elementSize(dtype);
    if (!shards.back().empty() && shard_bytes + bytes > options.max_shard_bytes) shards.emplace_back(), shard_bytes = 0;
    shards.back().push_back({name, dtype});
    shard_bytes += bytes;
    total_bytes += bytes;
  }

  at::NoGradGuard no_grad;
  json weight_map = json::object();
  const size_t count = shards.size();
  Progress progress("merging into " + fs::path(options.out_dir).filename().string(), total_bytes);
  uint64_t done = 0;
  for (size_t s = 0; s < count; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05zu-of-%05zu.safetensors", s + 1, count);
    const std::string file_name = count == 1 ? "model.safetensors" : file;
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const Planned& planned : shards[s]) {
      at::Tensor tensor = st::load_tensor(weights, planned.name);
      const std::string& name = planned.name;
      const std::string module = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0
                                     ? name.substr(0, name.size() - 7) : std::string();
      if (auto expert = experts.find(name); expert != experts.end() && parts.lora.count(expert->second.adapter_path) > 0) {
        const auto& [a, b] = parts.lora.at(expert->second.adapter_path);
        const at::Tensor delta = expert_delta(expert->second, a.to(options.device, at::kFloat), b.to(options.device, at::kFloat));
        ZT_REQUIRE(delta.sizes() == tensor.sizes(), options.adapter_dir << ": the LoRA update of '" << name << "' has shape "
                                                    << delta.sizes() << ", the base weight " << tensor.sizes());
        tensor = (tensor.to(options.device, at::kFloat) + delta).to(at::kCPU);
        const std::string& adapter_path = expert->second.adapter_path;
        parts.used[kPeftPrefix + adapter_path + ".lora_A.weight"] = parts.used[kPeftPrefix + adapter_path + ".lora_B.weight"] = true;
      } else if (auto lora = parts.lora.find(module); !module.empty() && lora != parts.lora.end()) {
        const at::Tensor delta = at::matmul(lora->second.second.to(options.device, at::kFloat),
                                            lora->second.first.to(options.device, at::kFloat)) *
                                 config.scaling_at(module);
        ZT_REQUIRE(delta.sizes() == tensor.sizes(), options.adapter_dir << ": the LoRA update of '" << module << "' has shape "
                                                    << delta.sizes() << ", the base weight " << tensor.sizes());
        tensor = (tensor.to(options.device, at::kFloat) + delta).to(at::kCPU);
        parts.used[kPeftPrefix + module + ".lora_A.weight"] = parts.used[kPeftPrefix + module + ".lora_B.weight"] = true;
      } else if (auto full = parts.replaced.find(name); full != parts.replaced.end()) {
        ZT_REQUIRE(full->second.sizes() == tensor.sizes(), options.adapter_dir << ": '" << name << "' has shape "
                                                           << full->second.sizes() << ", the base weight " << tensor.sizes());
        tensor = full->second;
        parts.used[kPeftPrefix + name] = true;
      }
      tensors.emplace_back(name, tensor.to(planned.dtype).contiguous());
      weight_map[name] = file_name;
      progress.update(done += static_cast<uint64_t>(tensors.back().second.nbytes()));
    }
    st::save_tensors((out / file_name).string(), tensors);
  }
  progress.finish();
  for (const auto& [name, used] : parts.used)
    ZT_REQUIRE(used, options.adapter_dir << ": adapter tensor '" << name << "' matches no weight of " << options.base_dir
                                         << " (an adapter trained on another model?)");
  if (count > 1) {
    std::ofstream index(out / "model.safetensors.index.json");
    index << json{{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}}.dump(2) << "\n";
    ZT_REQUIRE(index.good(), options.out_dir << "/model.safetensors.index.json: write failed");
  }
  // The rest of the base folder: config (with the new dtype), generation config, tokenizer files.
  for (const auto& entry : fs::directory_iterator(base)) {
    const std::string name = entry.path().filename().string(), ext = entry.path().extension().string();
    if (!entry.is_regular_file() || ext == ".safetensors" || ext == ".bin" || ext == ".pt" || ext == ".pth" ||
        name == "model.safetensors.index.json" || name.rfind("pytorch_model", 0) == 0)
      continue;
    if (name == "config.json" && options.dtype.has_value()) {
      json model_config = read_json_file(entry.path().string());
      model_config[model_config.contains("torch_dtype") ? "torch_dtype" : "dtype"] = dtype_name(*options.dtype);
      write_json_file((out / name).string(), model_config);
      continue;
    }
    fs::copy_file(entry.path(), out / name, fs::copy_options::overwrite_existing);
  }
  ZT_LOG_INFO("merged " << options.adapter_dir << " into " << options.base_dir << ": " << options.out_dir << " ("
                        << count << (count == 1 ? " file" : " shards") << ", " << total_bytes << " bytes)");
  return static_cast<int>(count);
}

}  // namespace zt::exporting
