// Every tensor a decoder model holds for training, from config.json alone: name, shape, bytes per element,
// whether it is trained and which layer it belongs to. `ztune estimate` sizes a run from it without loading
// a weight; a unit test holds it equal to what DecoderModel::load builds (names, shapes, dtypes, order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/lora/lora_config.h"

namespace zt::model {

struct PlannedTensor {
  std::string name;         // as DecoderModel::trainable_parameters() names it (PEFT prefix on LoRA runs)
  std::string file_name;    // the weight's name in the model folder; empty for LoRA matrices
  std::vector<int64_t> shape;
  int64_t numel = 0;
  int64_t element_bytes = 0;  // the training dtype's, or 4 for LoRA matrices (kept in fp32, as PEFT)
  bool trainable = false;
  int64_t layer = -1;         // decoder layer, -1 outside the layers
  int64_t bytes() const { return numel * element_bytes; }
};

struct TensorPlanOptions {
  int64_t dtype_bytes = 4;                  // of the training dtype
  bool full_training = false;
  std::optional<LoraConfig> lora;
  std::vector<std::string> modules_to_save;  // embed_tokens, lm_head
};

// In the order of DecoderModel::trainable_parameters() (frozen tensors interleaved where they sit).
// A tied lm_head is not a tensor of its own.
std::vector<PlannedTensor> plan_tensors(const ModelConfig& config, const TensorPlanOptions& options);

// The names of the seven linear modules of a decoder layer, and a module's path ("model.layers.3.mlp.up_proj").
inline constexpr const char* kLinearModules[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
std::string linear_module_path(int64_t layer, const std::string& module);

}  // namespace zt::model
