#include "dist/zero_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "core/check.h"
#include "dist/zero_presets.h"

namespace zt::dist {
namespace {

using json = nlohmann::json;

bool is_auto(const json& value) { return value.is_string() && value.get<std::string>() == "auto"; }

// A number (DeepSpeed files write 2e8 as a float), or "auto" resolved to `fallback`.
int64_t count_value(const json& section, const char* key, int64_t current, std::optional<int64_t> fallback,
                    const std::string& origin) {
  if (!section.contains(key)) return current;
  const json& value = section[key];
  if (is_auto(value)) {
    ZT_REQUIRE(fallback.has_value(), origin << ": \"" << key << "\": \"auto\" cannot be resolved here");
    return *fallback;
  }
  ZT_REQUIRE(value.is_number() && value.get<double>() >= 0,
             origin << ": \"" << key << "\" must be a non-negative number or \"auto\", got " << value.dump());
  return static_cast<int64_t>(value.get<double>());
}

bool flag_value(const json& section, const char* key, bool current, const std::string& origin) {
  if (!section.contains(key)) return current;
  ZT_REQUIRE(section[key].is_boolean(), origin << ": \"" << key << "\" must be true or false, got " << section[key].dump());
  return section[key].get<bool>();
}

// "enabled": true / false / "auto" (auto: on when the training dtype is `dtype`).
bool enabled(const json& root, const char* key, const ZeroAutoValues& autos, const std::string& origin) {
  if (!root.contains(key)) return false;
  ZT_REQUIRE(root[key].is_object(), origin << ": \"" << key << "\" must be an object");
  const json& section = root[key];
  if (!section.contains("enabled")) return false;  // DeepSpeed: off unless "enabled" says otherwise
  if (is_auto(section["enabled"])) return autos.dtype == key;
  return flag_value(section, "enabled", false, origin);
}

void refuse_offload(const json& zero, const char* key, const std::string& origin) {
  if (!zero.contains(key)) return;
  const json& offload = zero[key];
  std::string device = offload.is_object() && offload.contains("device") && offload["device"].is_string()
                           ? offload["device"].get<std::string>()
                           : "none";
  ZT_REQUIRE(device == "none", origin << ": \"" << key << "\" to '" << device
                                      << "' is not supported by ztune; set its device to \"none\" or use zero2/zero3");
}

}  // namespace

std::string zero_preset_json(const std::string& name) {
  if (name == "zero0") return presets::kZero0;
  if (name == "zero1") return presets::kZero1;
  if (name == "zero2") return presets::kZero2;
  if (name == "zero3") return presets::kZero3;
  if (name == "zero2_offload" || name == "zero3_offload")
    ZT_THROW("--deepspeed " << name << ": CPU offload is not supported by ztune; use "
                            << name.substr(0, 5) << " (on CPU every state already lives in host memory)");
  ZT_THROW("--deepspeed '" << name << "' is neither a preset (zero0, zero1, zero2, zero3) nor a .json file");
}

ZeroConfig parse_zero_config(const std::string& json_text, const std::string& origin, const ZeroAutoValues& autos) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& error) {
    ZT_THROW(origin << ": not valid JSON (" << error.what() << ")");
  }
  ZT_REQUIRE(root.is_object(), origin << ": a DeepSpeed config is a JSON object");
  ZeroConfig config;
  config.source = origin;
  if (root.contains("zero_optimization")) {
    const json& zero = root["zero_optimization"];
    ZT_REQUIRE(zero.is_object(), origin << ": \"zero_optimization\" must be an object");
    ZT_REQUIRE(!zero.contains("stage") || zero["stage"].is_number_integer(),
               origin << ": \"stage\" must be 0, 1, 2 or 3, got " << zero["stage"].dump());
    config.stage = static_cast<int>(count_value(zero, "stage", 0, std::nullopt, origin));
    ZT_REQUIRE(config.stage >= 0 && config.stage <= 3, origin << ": \"stage\" must be 0, 1, 2 or 3, got " << config.stage);
    const int64_t hidden = autos.hidden_size;
    auto times = [&](double factor) -> std::optional<int64_t> {
      return hidden > 0 ? std::optional<int64_t>(static_cast<int64_t>(factor * static_cast<double>(hidden))) : std::nullopt;
    };
    config.reduce_bucket_size = count_value(zero, "reduce_bucket_size", config.reduce_bucket_size,
                                            hidden > 0 ? std::optional<int64_t>(hidden * hidden) : std::nullopt, origin);
    config.allgather_bucket_size = count_value(zero, "allgather_bucket_size", config.allgather_bucket_size, std::nullopt, origin);
    config.stage3_prefetch_bucket_size =
        count_value(zero, "stage3_prefetch_bucket_size", config.stage3_prefetch_bucket_size,
                    hidden > 0 ? std::optional<int64_t>(static_cast<int64_t>(0.9 * double(hidden) * double(hidden)))
                               : std::nullopt,
                    origin);
    config.stage3_param_persistence_threshold = count_value(zero, "stage3_param_persistence_threshold",
                                                            config.stage3_param_persistence_threshold, times(10), origin);
    config.overlap_comm = flag_value(zero, "overlap_comm", config.overlap_comm, origin);
    config.contiguous_gradients = flag_value(zero, "contiguous_gradients", config.contiguous_gradients, origin);
    ZT_REQUIRE(config.reduce_bucket_size > 0, origin << ": \"reduce_bucket_size\" must be positive");
    refuse_offload(zero, "offload_optimizer", origin);
    refuse_offload(zero, "offload_param", origin);
  }
  if (root.contains("gradient_clipping")) {
    const json& clip = root["gradient_clipping"];
    if (is_auto(clip)) {
      config.gradient_clipping = autos.max_grad_norm;
    } else {
      ZT_REQUIRE(clip.is_number() && clip.get<double>() >= 0,
                 origin << ": \"gradient_clipping\" must be a non-negative number or \"auto\"");
      config.gradient_clipping = clip.get<double>();
    }
  }
  // "bfloat16" is DeepSpeed's older name for the bf16 section.
  const bool bf16 = enabled(root, "bf16", autos, origin) || enabled(root, "bfloat16", autos, origin);
  const bool fp16 = enabled(root, "fp16", autos, origin);
  ZT_REQUIRE(!(bf16 && fp16), origin << ": bf16 and fp16 cannot both be enabled");
  config.precision = bf16 ? "bf16" : fp16 ? "fp16" : "fp32";
  if (fp16) {
    const json& section = root["fp16"];
    if (section.contains("loss_scale")) {
      ZT_REQUIRE(section["loss_scale"].is_number(), origin << ": \"fp16.loss_scale\" must be a number");
      config.static_loss_scale = section["loss_scale"].get<double>();
    }
    config.initial_scale_power = static_cast<int>(count_value(section, "initial_scale_power", 16, std::nullopt, origin));
    config.loss_scale_window = static_cast<int>(count_value(section, "loss_scale_window", 1000, std::nullopt, origin));
    config.hysteresis = static_cast<int>(count_value(section, "hysteresis", 2, std::nullopt, origin));
    if (section.contains("min_loss_scale")) {
      ZT_REQUIRE(section["min_loss_scale"].is_number() && section["min_loss_scale"].get<double>() > 0,
                 origin << ": \"fp16.min_loss_scale\" must be a positive number");
      config.min_loss_scale = section["min_loss_scale"].get<double>();
    }
    ZT_REQUIRE(config.loss_scale_window > 0, origin << ": \"fp16.loss_scale_window\" must be positive");
    ZT_REQUIRE(config.hysteresis > 0, origin << ": \"fp16.hysteresis\" must be positive");
  }
  return config;
}

ZeroSource read_zero_source(const std::string& spec) {
  const bool is_file = spec.size() > 5 && spec.substr(spec.size() - 5) == ".json";
  if (!is_file) return {zero_preset_json(spec), spec};
  std::ifstream in(spec);
  ZT_REQUIRE(in, "--deepspeed " << spec << ": cannot open the file");
  std::stringstream text;
  text << in.rdbuf();
  return {text.str(), spec};
}

ZeroConfig load_zero_config(const std::string& spec, const ZeroAutoValues& autos) {
  const ZeroSource source = read_zero_source(spec);
  return parse_zero_config(source.text, source.origin, autos);
}

}  // namespace zt::dist
