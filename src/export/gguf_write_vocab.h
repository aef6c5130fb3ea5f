// GGUF out, the tokenizer: what convert_hf_to_gguf.py's _set_vocab_gpt2 and gguf-py's SpecialVocab read from a
// Hugging Face folder's tokenizer.json, tokenizer_config.json, config.json and chat template files.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace zt::exporting::gguf_out {

using json = nlohmann::json;

struct Vocabulary {
  std::vector<std::string> tokens;   // ids 0..vocab_size-1; "[PADn]" where the tokenizer has no id n
  std::vector<int32_t> types;        // gguf::TokenType
  std::vector<std::string> merges;   // "a b"
  std::string pre;                   // tokenizer.ggml.pre
};

// A byte-level BPE tokenizer.json as llama.cpp's gpt2 vocabulary; `vocab_size` is config.json's. Any other kind of
// tokenizer, or a pre-tokenizer llama.cpp does not run, is a zt::Error naming `path`.
Vocabulary read_vocabulary(const json& tokenizer, int64_t vocab_size, const std::string& path);

struct SpecialTokens {
  std::vector<std::pair<std::string, int64_t>> ids;  // "bos", "eos", ... in the order SpecialVocab records them
  std::vector<std::pair<std::string, bool>> add;     // add_bos/eos/sep (and others GGUF has no key for)
  json chat_template;                                // null, a string, or [{name, template}]
};

// gguf-py's SpecialVocab (as in llama.cpp 0c1e570, 2026-10): ids from tokenizer_config.json's tokens, then
// config.json's ids; add_* from the post-processor, then tokenizer_config.json; the chat template from
// tokenizer_config.json, else chat_template.jinja (with additional_chat_templates/), else chat_template.json.
SpecialTokens read_special_tokens(const std::string& model_dir, const json& tokenizer, json tokenizer_config,
                                  const std::string& path);

// A tokenizer_config.json token entry ("<s>" or {"content": "<s>", ...}) as its text; "" for anything else.
std::string text_of(const json& entry);

}  // namespace zt::exporting::gguf_out
