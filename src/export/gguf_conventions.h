// llama.cpp's conventions that GGUF in (gguf.cpp) and GGUF out (gguf_write.cpp) both follow: the file's magic,
// the names of a block's tensors, the token types, and the pre-tokenizers that tokenizer.ggml.pre names, spelled
// as a Hugging Face tokenizer.json spells them.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace zt::exporting::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
inline constexpr uint32_t kVersion = 3;         // the version GGUF out writes
inline constexpr uint64_t kDefaultAlignment = 32;

// GGUF names (llama.cpp's gguf-py tensor_mapping.py) inside block N -> Hugging Face names inside layer N, for the
// llama, qwen2 and qwen3 architectures: the one table besides the family schemas (model/family/) that spells a
// projection's name. Which of them a model has comes from its family's layer plan.
inline const std::map<std::string, std::string>& layer_names() {
  static const std::map<std::string, std::string> names = {
      {"attn_norm.weight", "input_layernorm.weight"},      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},        {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.weight", "self_attn.k_proj.weight"},        {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.weight", "self_attn.v_proj.weight"},        {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_output.weight", "self_attn.o_proj.weight"},   {"attn_output.bias", "self_attn.o_proj.bias"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},         {"ffn_gate.bias", "mlp.gate_proj.bias"},
      {"ffn_up.weight", "mlp.up_proj.weight"},             {"ffn_up.bias", "mlp.up_proj.bias"},
      {"ffn_down.weight", "mlp.down_proj.weight"},         {"ffn_down.bias", "mlp.down_proj.bias"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},   {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      // qwen2moe, qwen3moe: the router and the shared expert with its gate
      {"ffn_gate_inp.weight", "mlp.gate.weight"},
      {"ffn_gate_shexp.weight", "mlp.shared_expert.gate_proj.weight"},
      {"ffn_up_shexp.weight", "mlp.shared_expert.up_proj.weight"},
      {"ffn_down_shexp.weight", "mlp.shared_expert.down_proj.weight"},
      {"ffn_gate_inp_shexp.weight", "mlp.shared_expert_gate.weight"},
  };
  return names;
}

// The stacked expert tensors of a block (GGUF [n_expert] x rows x cols) by the Hugging Face part name each stacks
// (mlp.experts.N.<part>.weight, or that part's rows of transformers' fused experts.gate_up_proj), in the order
// convert_hf_to_gguf.py writes a layer's three.
inline const std::vector<std::pair<std::string, std::string>>& expert_names() {
  static const std::vector<std::pair<std::string, std::string>> names = {
      {"down_proj", "ffn_down_exps.weight"}, {"gate_proj", "ffn_gate_exps.weight"}, {"up_proj", "ffn_up_exps.weight"}};
  return names;
}

// llama.cpp's token attributes (tokenizer.ggml.token_type).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// How the text is cut before BPE for one tokenizer.ggml.pre, as llama-vocab.cpp's llm_tokenizer_bpe does it and
// as the Hugging Face tokenizer the file came from wrote it.
struct PreTokenizer {
  nlohmann::json normalizer;   // null: none
  nlohmann::json pre_tokenizer;
  bool ignore_merges = false;  // llama.cpp: a whole word in the vocabulary is one token
  bool add_bos = false;        // llama.cpp's default when tokenizer.ggml.add_bos_token is absent
  bool clean_spaces = true;    // clean_up_tokenization_spaces
  bool qwen2_split = false;
};

inline const char* const kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline const char* const kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline const char* const kGpt2Split = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

inline nlohmann::json split_step(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
inline nlohmann::json byte_level_step(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

// The pre-tokenizer llama.cpp runs for tokenizer.ggml.pre `pre`; nullopt for a name ztune does not know.
inline std::optional<PreTokenizer> pre_tokenizer(const std::string& pre) {
  static const std::set<std::string> llama3 = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                               "midm-2.0", "lfm2", "jina-v5-nano"};
  static const std::set<std::string> llama3_split = {"dbrx", "smaug-bpe"};
  static const std::set<std::string> qwen2 = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"};
  static const std::set<std::string> digits_then_gpt2 = {"smollm", "starcoder", "refact", "command-r", "codeshell",
                                                         "exaone", "minerva-7b"};
  static const std::set<std::string> gpt2 = {"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat",
                                             "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "exaone4", "trillion"};
  PreTokenizer p;
  if (llama3.count(pre) || llama3_split.count(pre)) {
    p.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split_step(kLlama3Split), byte_level_step(false)}}};
    p.ignore_merges = p.add_bos = llama3.count(pre) > 0;
  } else if (qwen2.count(pre)) {
    // Qwen2's own tokenizer (and transformers' Qwen2Tokenizer) normalises to NFC first; llama.cpp does not.
    p.normalizer = {{"type", "NFC"}};
    p.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split_step(kQwen2Split), byte_level_step(false)}}};
    p.clean_spaces = false;
    p.qwen2_split = true;
  } else if (digits_then_gpt2.count(pre)) {
    // llama.cpp splits "\p{N}" then GPT-2's regex; SmolLM's tokenizer.json says the same this way.
    p.pre_tokenizer = {{"type", "Sequence"},
                       {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level_step(true)}}};
    p.clean_spaces = pre != "smollm" && pre != "command-r";
  } else if (gpt2.count(pre)) {
    p.pre_tokenizer = byte_level_step(true);
  } else if (pre == "default") {
    // llama.cpp's fallback chain for BPE files that name no pre-tokenizer.
    p.pre_tokenizer = {{"type", "Sequence"},
                       {"pretokenizers", {split_step(R"([\p{P}\$\+<=>\^~\|]+)"), split_step(kGpt2Split),
                                          split_step(R"(\p{N}+)"), split_step("[0-9][0-9][0-9]"), byte_level_step(false)}}};
  } else {
    return std::nullopt;
  }
  return p;
}

}  // namespace zt::exporting::gguf
