// GGUF out, the tokenizer: what convert_hf_to_gguf.py's set_vocab writes for a Hugging Face folder (LlamaModel's
// order: tokenizer.model through _set_vocab_sentencepiece, else a SentencePiece-style tokenizer.json through gguf-py's
// LlamaHfVocab, else a byte-level BPE tokenizer.json through _set_vocab_gpt2), and what gguf-py's SpecialVocab reads
// from tokenizer.json, tokenizer_config.json, config.json and the chat template files.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace zt::exporting::gguf_out {

using json = nlohmann::json;

struct Vocabulary {
  std::string model;                 // tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece)
  std::string pre;                   // tokenizer.ggml.pre
  std::vector<std::string> tokens;   // by id; "[PADn]" where the tokenizer has no id n
  std::vector<float> scores;         // llama only: tokenizer.ggml.scores
  std::vector<int32_t> types;        // gguf::TokenType
  std::vector<std::string> merges;   // gpt2 only: "a b"
  std::string path;                  // the file the tokens come from, for messages
};

// The folder's vocabulary as convert_hf_to_gguf.py picks it: tokenizer.model if there is one; for llama/mistral
// (`llama_family`) a tokenizer.json that is BPE with byte fallback and a Sequence decoder; else tokenizer.json as
// byte-level BPE. `tokenizer` is tokenizer.json (an empty object when the folder has none), `vocab_size`
// config.json's. A tokenizer none of these covers, or one the converter would write wrongly, is a zt::Error naming
// the file.
Vocabulary read_folder_vocabulary(const std::string& model_dir, bool llama_family, int64_t vocab_size,
                                  const json& tokenizer, const json& tokenizer_config);

struct SpecialTokens {
  std::vector<std::pair<std::string, int64_t>> ids;  // "bos", "eos", ... in the order SpecialVocab records them
  std::vector<std::pair<std::string, bool>> add;     // add_bos/eos/sep (and others GGUF has no key for)
  json chat_template;                                // null, a string, or [{name, template}]
};

// gguf-py's SpecialVocab (as in llama.cpp 0c1e570, 2026-10): ids from tokenizer_config.json's tokens, then
// config.json's ids; add_* from the post-processor, then tokenizer_config.json; the chat template from
// tokenizer_config.json, else chat_template.jinja (with additional_chat_templates/), else chat_template.json.
// `num_tokens` >= 0 is its n_vocab: ids at or past it are left out (the SentencePiece paths pass it, gpt2 does not).
SpecialTokens read_special_tokens(const std::string& model_dir, const json& tokenizer, json tokenizer_config,
                                  int64_t num_tokens, const std::string& path);

// A tokenizer_config.json token entry ("<s>" or {"content": "<s>", ...}) as its text; "" for anything else.
std::string text_of(const json& entry);

}  // namespace zt::exporting::gguf_out
