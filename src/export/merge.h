// Merging a LoRA adapter into its base model: W += (B @ A) * scaling in fp32, then cast, written as a
// Hugging Face model folder (safetensors shards of at most max_shard_size with their index, and the
// base's config, generation config and tokenizer files) that transformers and vLLM load as is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

namespace zt::exporting {

struct MergeOptions {
  std::string base_dir, adapter_dir, out_dir;
  std::optional<c10::ScalarType> dtype;  // default: each base tensor's own
  uint64_t max_shard_bytes = 5'000'000'000;
  bool exist_ok = false;
  c10::Device device = c10::kCPU;  // where W + BA is computed (the GPU when there is one)
};

// Returns the number of shards written. The base folder is only read.
int merge_lora(const MergeOptions& options);

// "5GB" (10^9), "500MB", "2GiB" (2^30), "100KB", "123" (bytes) -> bytes; a zt::Error names a bad value.
uint64_t parse_size(const std::string& text);

// "bfloat16" | "float16" | "float32" (and bf16/fp16/fp32); nullopt for "auto" or empty.
std::optional<c10::ScalarType> parse_dtype(const std::string& name);

}  // namespace zt::exporting
