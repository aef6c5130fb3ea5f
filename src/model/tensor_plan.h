// Every tensor a decoder model holds for training, from config.json and the family's layer plan alone: name, shape, bytes per element,
// whether it is trained and which layer it belongs to. `ztune estimate` sizes a run from it without loading
// a weight; a unit test holds it equal to what DecoderModel::load builds (names, shapes, dtypes, order).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/family/schema.h"
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
  std::optional<Role> role;   // inside a layer: what the parameter (or the linear a LoRA matrix adapts) is
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

}  // namespace zt::model
