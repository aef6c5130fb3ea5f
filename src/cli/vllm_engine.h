// `ztune infer --infer_backend vllm`: the model handed to vLLM, as ms-swift hands it, through a Python child
// process. ztune keeps the template and the tokenizer: it sends each prompt's token ids (what ms-swift's
// VllmEngine sends too) and decodes the token ids vLLM returns, so replies are encoded exactly as training was.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/generation.h"

namespace zt {
class ChildProcess;
}

namespace zt::cli {

// What vLLM's LLM(...) is built with: ms-swift's --vllm_* flags where ztune passes them on.
struct VllmSetup {
  std::string model_dir;                  // a Hugging Face folder (a merged checkpoint with --merge_lora true)
  std::optional<std::string> lora_dir;    // a PEFT adapter served by vLLM's LoRA support (enable_lora)
  std::string dtype = "auto";
  int64_t max_model_len = 0;              // 0: the model's
  double gpu_memory_utilization = 0.9;
  int tensor_parallel_size = 1;
  int max_num_seqs = 256;
  bool enforce_eager = false;
  int max_lora_rank = 16;
  std::optional<bool> enable_prefix_caching;
  bool disable_custom_all_reduce = true;
  std::string engine_kwargs_json = "{}";  // --vllm_engine_kwargs, passed as keyword arguments
  uint64_t seed = 42;
};

class VllmEngine {
 public:
  // Starts the bridge (`$ZTUNE_PYTHON` or python3) and builds vLLM's engine. When vLLM cannot be used here (no
  // Python, vLLM not importable, the engine refusing the model) it returns null and `why_not` says why in one line.
  static std::unique_ptr<VllmEngine> start(const VllmSetup& setup, std::string* why_not);
  ~VllmEngine();

  // New tokens of each prompt, stop token included when one ended it (as model::generate returns them).
  std::vector<std::vector<int64_t>> generate(const std::vector<std::vector<int64_t>>& prompts,
                                             const model::SamplingConfig& config);
  const std::string& version() const { return version_; }

 private:
  explicit VllmEngine(std::unique_ptr<ChildProcess> child, std::string version);
  std::unique_ptr<ChildProcess> child_;
  std::string version_;
};

}  // namespace zt::cli
