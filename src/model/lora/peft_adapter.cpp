#include "model/lora/peft_adapter.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/json_file.h"
#include "core/safetensors_torch.h"

namespace zt::model {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// A key that is absent or null (foreign adapters write `"use_rslora": null`) takes the default.
template <class T>
T value_or(const json& object, const char* key, T fallback) {
  auto found = object.find(key);
  return found == object.end() || found->is_null() ? fallback : found->get<T>();
}

}  // namespace

std::vector<std::string> adapted_modules(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  static const std::string suffix = ".lora_A.weight";
  std::vector<std::string> modules;
  for (const auto& [name, tensor] : tensors) {
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string path = name.substr(0, name.size() - suffix.size());
    const std::string module = path.substr(path.rfind('.') + 1);
    if (std::find(modules.begin(), modules.end(), module) == modules.end()) modules.push_back(module);
  }
  return modules;
}

json adapter_config_json(const LoraConfig& config, const std::vector<std::string>& all_linear) {
  json targets = json::array();
  if (config.target_modules.size() == 1 && config.target_modules[0] == "all-linear")
    for (const std::string& module : all_linear) targets.push_back(module);
  else
    for (const std::string& t : config.target_modules) targets.push_back(t);
  return {{"peft_type", "LORA"},
          {"task_type", "CAUSAL_LM"},
          {"base_model_name_or_path", config.base_model},
          {"r", config.rank},
          {"lora_alpha", config.alpha},
          {"lora_dropout", config.dropout},
          {"use_rslora", config.use_rslora},
          {"use_dora", false},
          {"bias", config.bias},
          {"target_modules", targets},
          {"target_parameters", config.target_parameters.empty() ? json(nullptr) : json(config.target_parameters)},
          {"rank_pattern", json(config.rank_pattern)},
          {"alpha_pattern", json(config.alpha_pattern)},
          {"modules_to_save", config.modules_to_save.empty() ? json(nullptr) : json(config.modules_to_save)},
          {"inference_mode", true},
          {"fan_in_fan_out", false},
          {"init_lora_weights", true}};
}

LoraConfig read_adapter_config(const std::string& adapter_dir) {
  const fs::path path = fs::path(adapter_dir) / "adapter_config.json";
  const json value = read_json_file(path.string());
  LoraConfig config;
  try {
    ZT_REQUIRE(value_or(value, "peft_type", std::string("LORA")) == "LORA", path.string() << ": not a LoRA adapter");
    config.rank = value.at("r").get<int64_t>();
    config.alpha = value.at("lora_alpha").get<double>();
    config.dropout = value_or(value, "lora_dropout", 0.0);
    config.use_rslora = value_or(value, "use_rslora", false);
    if (value.contains("target_modules") && value["target_modules"].is_array())
      config.target_modules = value["target_modules"].get<std::vector<std::string>>();
    if (value.contains("modules_to_save") && value["modules_to_save"].is_array())
      config.modules_to_save = value["modules_to_save"].get<std::vector<std::string>>();
    if (value.contains("target_parameters") && value["target_parameters"].is_array())
      config.target_parameters = value["target_parameters"].get<std::vector<std::string>>();
    if (value.contains("rank_pattern") && value["rank_pattern"].is_object())
      config.rank_pattern = value["rank_pattern"].get<std::map<std::string, int64_t>>();
    if (value.contains("alpha_pattern") && value["alpha_pattern"].is_object())
      config.alpha_pattern = value["alpha_pattern"].get<std::map<std::string, double>>();
    config.bias = value_or(value, "bias", std::string("none"));
    config.base_model = value_or(value, "base_model_name_or_path", std::string());
  } catch (const json::exception& e) {
    ZT_THROW(path.string() << ": " << e.what());
  }
  return config;
}

LoraConfig adapter_config_from_args(const json& args, const std::string& base_model) {
  LoraConfig config;
  auto number = [&](const char* key, double fallback) {
    return args.contains(key) && args[key].is_number() ? args[key].get<double>() : fallback;
  };
  config.rank = static_cast<int64_t>(number("lora_rank", double(config.rank)));
  config.alpha = number("lora_alpha", config.alpha);
  config.dropout = number("lora_dropout", config.dropout);
  config.use_rslora = args.contains("use_rslora") && args["use_rslora"].is_boolean() && args["use_rslora"].get<bool>();
  if (args.contains("target_modules") && args["target_modules"].is_array())
    config.target_modules = args["target_modules"].get<std::vector<std::string>>();
  if (args.contains("modules_to_save") && args["modules_to_save"].is_array())
    config.modules_to_save = args["modules_to_save"].get<std::vector<std::string>>();
  if (args.contains("target_parameters") && args["target_parameters"].is_array())
    config.target_parameters = args["target_parameters"].get<std::vector<std::string>>();
  if (args.contains("lora_bias") && args["lora_bias"].is_string()) config.bias = args["lora_bias"].get<std::string>();
  config.base_model = base_model;
  return config;
}

std::vector<std::pair<std::string, at::Tensor>> read_adapter_tensors(const std::string& adapter_dir) {
  const fs::path path = fs::path(adapter_dir) / "adapter_model.safetensors";
  ZT_REQUIRE(fs::exists(path), path.string() << ": not found (is " << adapter_dir << " a PEFT adapter or checkpoint folder?)");
  return st::load_tensors(path.string());
}

void write_adapter(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                   const LoraConfig& config) {
  fs::create_directories(dir);
  st::save_tensors((fs::path(dir) / "adapter_model.safetensors").string(), tensors);
  write_json_file((fs::path(dir) / "adapter_config.json").string(), adapter_config_json(config, adapted_modules(tensors)));
}

}  // namespace zt::model
