// The tokenizer stored in a GGUF file's metadata, written as the Hugging Face files transformers reads.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "export/gguf.h"

namespace zt::exporting {

struct HfTokenizerFiles {
  nlohmann::json tokenizer;                                  // tokenizer.json
  nlohmann::json tokenizer_config;                           // tokenizer_config.json
  nlohmann::json special_ids = nlohmann::json::object();     // bos/eos/pad ids for config.json, generation_config.json
  int64_t vocab_size = 0;
};

// `model_type` is the Hugging Face model type ("llama", "qwen2": transformers gives every qwen2 model its
// Qwen2Tokenizer); `context` becomes model_max_length. Unsupported tokenizers are errors naming the metadata key.
HfTokenizerFiles gguf_tokenizer_to_hf(const gguf::File& file, const std::string& model_type, int64_t context);

}  // namespace zt::exporting
