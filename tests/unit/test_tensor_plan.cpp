// model::plan_tensors (what ztune estimate sizes a run from) against what DecoderModel::load builds on the
// fixture models: the same trainable tensors in the same order with the same shapes and element sizes, and the
// same bytes held, for LoRA (all linear layers, a subset, a regex, modules_to_save), full training, fp32 and bf16.
#include <gtest/gtest.h>
#include "core/torch_api.h"

#include "model/config.h"
#include "model/decoder.h"
#include "model/tensor_plan.h"

namespace {

const std::string kFixtures = ZTUNE_FIXTURES_DIR;

struct Case {
  std::string model;
  bool full;
  std::vector<std::string> targets;
  std::vector<std::string> modules_to_save;
  at::ScalarType dtype;
};

void check(const Case& c) {
  SCOPED_TRACE(c.model + (c.full ? " full" : " lora") + " " + c10::toString(c.dtype));
  const std::string dir = kFixtures + "/" + c.model;
  zt::model::ModelOptions options;
  options.dtype = c.dtype;
  options.full_training = c.full;
  options.modules_to_save = c.modules_to_save;
  zt::model::TensorPlanOptions plan_options;
  plan_options.dtype_bytes = c.dtype == at::kFloat ? 4 : 2;
  plan_options.full_training = c.full;
  plan_options.modules_to_save = c.modules_to_save;
  if (!c.full) {
    zt::model::LoraConfig lora = zt::model::lora_config(4, 8, 0.0);
    lora.target_modules = c.targets;
    options.lora = lora;
    plan_options.lora = lora;
  }
  const zt::model::DecoderModel model = zt::model::DecoderModel::load(dir, options);
  const std::vector<zt::model::PlannedTensor> plan = zt::model::plan_tensors(zt::model::read_model_config(dir), plan_options);
  std::vector<zt::model::PlannedTensor> trainable;
  int64_t trainable_bytes = 0, frozen_bytes = 0;
  for (const zt::model::PlannedTensor& t : plan) {
    if (t.trainable) trainable.push_back(t), trainable_bytes += t.bytes();
    else frozen_bytes += t.bytes();
  }
  const auto actual = model.trainable_parameters();
  ASSERT_EQ(actual.size(), trainable.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, trainable[i].name);
    EXPECT_EQ(actual[i].second.sizes().vec(), trainable[i].shape) << trainable[i].name;
    EXPECT_EQ(static_cast<int64_t>(actual[i].second.element_size()), trainable[i].element_bytes) << trainable[i].name;
  }
  EXPECT_EQ(model.held_bytes(true), trainable_bytes);
  EXPECT_EQ(model.held_bytes(false), frozen_bytes);
}

TEST(TensorPlan, MatchesTheLoadedModel) {
  for (const std::string model : {"qwen2", "qwen2-tied", "llama", "qwen3", "qwen3-moe", "qwen2-moe"}) {
    for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
      check({model, false, {"all-linear"}, {}, dtype});
      check({model, false, {"q_proj", "v_proj"}, {}, dtype});
      check({model, false, {".*\\.mlp\\.(up|down)_proj"}, {"lm_head"}, dtype});
      check({model, false, {"o_proj"}, {"embed_tokens"}, dtype});
      check({model, true, {}, {}, dtype});
    }
  }
}

}  // namespace
