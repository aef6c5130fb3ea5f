#include "model/config.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "model/family/family.h"

namespace zt::model {
namespace {

using nlohmann::json;

int64_t required_int(const json& config, const char* key, const std::string& path) {
  ZT_REQUIRE(config.contains(key) && config[key].is_number_integer(),
             path << ": missing or non-integer \"" << key << "\"");
  return config[key].get<int64_t>();
}

std::optional<int64_t> first_id(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  if (value.is_array() && !value.empty() && value[0].is_number_integer()) return value[0].get<int64_t>();
  return std::nullopt;
}

}  // namespace

bool ModelConfig::sparse_layer(int64_t layer) const {
  if (num_experts <= 0) return false;
  for (int64_t dense : mlp_only_layers)
    if (dense == layer) return false;
  return decoder_sparse_step > 0 && (layer + 1) % decoder_sparse_step == 0;
}

ModelConfig read_model_config(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  std::ifstream stream(path);
  ZT_REQUIRE(stream.good(), path << ": cannot open (is " << model_dir << " a Hugging Face model folder?)");
  json config;
  try {
    config = json::parse(stream);
  } catch (const json::exception& error) {
    ZT_THROW(path << ": not valid JSON (" << error.what() << ")");
  }
  ModelConfig out;
  std::string architecture;
  if (config.contains("architectures") && config["architectures"].is_array() && !config["architectures"].empty())
    architecture = config["architectures"][0].get<std::string>();
  out.architecture_name = architecture;
  if (config.contains("model_type") && config["model_type"].is_string()) out.model_type = config["model_type"].get<std::string>();
  const Family& family = family_of(architecture, path);

  out.vocab_size = required_int(config, "vocab_size", path);
  out.hidden_size = required_int(config, "hidden_size", path);
  // A dense MLP's width; mixtures of experts without dense layers (Qwen3.5-MoE) have none (attention_swiglu_layer
  // requires it where a layer has one).
  if (config.contains("intermediate_size") && !config["intermediate_size"].is_null())
    out.intermediate_size = required_int(config, "intermediate_size", path);
  out.num_layers = required_int(config, "num_hidden_layers", path);
  out.num_heads = required_int(config, "num_attention_heads", path);
  out.num_kv_heads = config.contains("num_key_value_heads") && !config["num_key_value_heads"].is_null()
                         ? config["num_key_value_heads"].get<int64_t>()
                         : out.num_heads;
  out.head_dim = config.contains("head_dim") && config["head_dim"].is_number_integer()
                     ? config["head_dim"].get<int64_t>()
                     : out.hidden_size / out.num_heads;
  ZT_REQUIRE(out.num_heads > 0 && out.num_kv_heads > 0 && out.num_heads % out.num_kv_heads == 0,
             path << ": num_attention_heads " << out.num_heads << " is not a multiple of num_key_value_heads "
                  << out.num_kv_heads);
  out.max_position_embeddings = config.value("max_position_embeddings", int64_t{32768});
  out.rms_norm_eps = config.value("rms_norm_eps", 1e-6);
  // transformers 5 writes rope_parameters; older configs have rope_theta and rope_scaling at the top.
  json rope = config.value("rope_parameters", json());
  if (!rope.is_object()) rope = config.value("rope_scaling", json());
  if (!rope.is_object()) rope = json::object();
  out.rope_theta = rope.value("rope_theta", config.value("rope_theta", out.rope_theta));
  out.rope_type = rope.value("rope_type", rope.value("type", std::string("default")));
  if (out.rope_type == "linear" || out.rope_type == "llama3") {
    ZT_REQUIRE(rope.contains("factor"), path << ": rope_type '" << out.rope_type << "' without a factor");
    out.rope_factor = rope["factor"].get<double>();
  }
  if (out.rope_type == "llama3") {
    out.rope_low_freq_factor = rope.at("low_freq_factor").get<double>();
    out.rope_high_freq_factor = rope.at("high_freq_factor").get<double>();
    out.rope_original_max_positions = rope.value("original_max_position_embeddings", out.max_position_embeddings);
  }
  ZT_REQUIRE(out.rope_type == "default" || out.rope_type == "linear" || out.rope_type == "llama3",
             path << ": rope_type '" << out.rope_type << "' is not supported yet (ztune has default, linear and llama3)");
  out.tie_word_embeddings = config.value("tie_word_embeddings", false);
  family.read_config(config, out);
  // Partial rotary embeddings: the families that have them set rotary_dim (Qwen3.5); elsewhere it is refused.
  const double partial = rope.value("partial_rotary_factor", config.value("partial_rotary_factor", 1.0));
  ZT_REQUIRE(partial == 1.0 || out.rotary_dim > 0,
             path << ": partial_rotary_factor " << partial << " is not supported for " << architecture);
  if (config.contains("torch_dtype") && config["torch_dtype"].is_string()) out.dtype = config["torch_dtype"];
  if (config.contains("dtype") && config["dtype"].is_string()) out.dtype = config["dtype"];
  if (config.contains("bos_token_id")) out.bos_token_id = first_id(config["bos_token_id"]);
  if (config.contains("eos_token_id")) out.eos_token_id = first_id(config["eos_token_id"]);
  return out;
}

}  // namespace zt::model
