// The tokenizer of a GGUF file as Hugging Face files: byte-level BPE ("gpt2") split as llama.cpp splits it, and
// SentencePiece BPE ("llama") as transformers builds it from the GGUF (merges from the file or from the scores).
#include "export/gguf_vocab_to_hf.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "core/check.h"
#include "core/log.h"
#include "export/gguf_conventions.h"
#include "export/gguf_metadata.h"

namespace zt::exporting {
namespace {

using json = nlohmann::json;
using gguf::File;
using gguf::Value;
using gguf::ValueType;
using gguf::PreTokenizer;
using gguf::kNormal;
using gguf::kUnknown;
using gguf::kControl;
using gguf::kUserDefined;

using namespace gguf_meta;

PreTokenizer pre_tokenizer_for(const File& file, const std::string& pre) {
  std::optional<PreTokenizer> p = gguf::pre_tokenizer(pre);
  if (!p) {
    ZT_THROW(file.path() << ": tokenizer.ggml.pre '" << pre << "' is not a pre-tokenizer ztune knows (it knows the llama3, "
                            "qwen2, smollm and gpt-2 families and 'default')");
  }
  return *p;
}

// The token texts and llama.cpp token types every tokenizer.ggml.model stores.
struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<int64_t> types;
  int64_t size() const { return static_cast<int64_t>(tokens.size()); }
};

Vocabulary read_vocabulary(const File& file) {
  Vocabulary v;
  const std::vector<Value>& token_values = array_of(file, "tokenizer.ggml.tokens", ValueType::STRING, "an array of strings");
  v.tokens.reserve(token_values.size());
  for (const Value& value : token_values) {
    ZT_REQUIRE(valid_utf8(value.string_value),
               file.path() << ": tokenizer.ggml.tokens[" << v.tokens.size() << "] is not valid UTF-8");
    v.tokens.push_back(value.string_value);
  }
  ZT_REQUIRE(!v.tokens.empty(), file.path() << ": tokenizer.ggml.tokens is empty");
  v.types.assign(v.tokens.size(), kNormal);
  if (file.find("tokenizer.ggml.token_type")) {
    const Value& type_values = required(file, "tokenizer.ggml.token_type");
    ZT_REQUIRE(type_values.type == ValueType::ARRAY && type_values.items.size() == v.tokens.size(),
               file.path() << ": tokenizer.ggml.token_type is not an array of one type per token (" << v.size() << ")");
    for (size_t i = 0; i < v.types.size(); ++i)
      v.types[i] = as_integer(file, "tokenizer.ggml.token_type", type_values.items[i]);
  }
  return v;
}

struct SpecialIds {
  std::optional<int64_t> bos, eos, unk, pad, eot, eom;
};

SpecialIds read_special_ids(const File& file, int64_t num_tokens) {
  auto token_id = [&](const char* key) -> std::optional<int64_t> {
    const std::string full = std::string("tokenizer.ggml.") + key;
    const Value* value = file.find(full);
    if (value == nullptr) return std::nullopt;
    const int64_t id = as_integer(file, full, *value);
    ZT_REQUIRE(id >= 0 && id < num_tokens, file.path() << ": " << full << " = " << id << " is not a token id (0 to "
                                                       << num_tokens - 1 << ")");
    return id;
  };
  return {token_id("bos_token_id"), token_id("eos_token_id"), token_id("unknown_token_id"),
          token_id("padding_token_id"), token_id("eot_token_id"), token_id("eom_token_id")};
}

// tokenizer.json's parts that depend on the kind of vocabulary.
struct Pipeline {
  json model;                     // the BPE model: vocab, merges and options
  std::map<int64_t, bool> added;  // the added tokens: id -> special
  json normalizer, pre_tokenizer, decoder;
  bool byte_level = false;        // a ByteLevel post-processor step (offsets only) comes first
  bool clean_spaces = true;       // clean_up_tokenization_spaces
  bool add_bos = false;           // llama.cpp's add_bos when tokenizer.ggml.add_bos_token is absent
};

// Merges "a b" from tokenizer.ggml.merges: split at the first space after the first byte, as llama-vocab.cpp does;
// tokenizers refuses a merge whose parts or result are not tokens, which llama.cpp never produces.
json merges_from_file(const File& file, const json& vocab) {
  json merges = json::array();
  size_t dropped = 0;
  const std::vector<Value>& items = array_of(file, "tokenizer.ggml.merges", ValueType::STRING, "an array of strings");
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& text = items[i].string_value;
    const size_t space = text.size() > 1 ? text.find(' ', 1) : std::string::npos;
    ZT_REQUIRE(space != std::string::npos && valid_utf8(text),
               file.path() << ": tokenizer.ggml.merges[" << i << "] = '" << (valid_utf8(text) ? text : "<invalid UTF-8>")
                           << "' is not two tokens separated by a space");
    std::string left = text.substr(0, space), right = text.substr(space + 1);
    if (!vocab.contains(left) || !vocab.contains(right) || !vocab.contains(left + right)) {
      ++dropped;
      continue;
    }
    merges.push_back({std::move(left), std::move(right)});
  }
  if (dropped > 0) ZT_LOG_WARN(file.path() << ": dropped " << dropped << " merges whose tokens are not in the vocabulary");
  return merges;
}

// Byte-level BPE ("gpt2"): the vocabulary and merges as stored, split by the pre-tokenizer tokenizer.ggml.pre names.
Pipeline byte_level_pipeline(const File& file, const std::string& model_type, const Vocabulary& v, const SpecialIds& ids) {
  const std::string pre_name = optional_string(file, "tokenizer.ggml.pre").value_or("default");
  if (!file.find("tokenizer.ggml.pre"))
    ZT_LOG_WARN(file.path() << " names no tokenizer.ggml.pre; using llama.cpp's 'default' pre-tokenizer");
  const PreTokenizer pre = pre_tokenizer_for(file, pre_name);
  if (model_type == "qwen2" && !pre.qwen2_split)
    ZT_LOG_WARN(file.path() << ": tokenizer.ggml.pre is '" << pre_name << "', but transformers tokenizes every qwen2 model "
                            "with Qwen2Tokenizer's own pre-tokenizer");

  // Every token under its stored spelling (byte-level for normal tokens); a repeated spelling keeps its first id,
  // and added tokens are found by their own id anyway.
  json vocab = json::object();
  size_t repeated = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t id = 0; id < v.size(); ++id) {
      const bool added = v.types[id] == kControl || v.types[id] == kUserDefined || v.types[id] == kUnknown;
      if (added != (pass == 1)) continue;
      if (vocab.contains(v.tokens[id])) ++repeated;
      else vocab[v.tokens[id]] = id;
    }
  if (repeated > 0) ZT_LOG_WARN(file.path() << ": " << repeated << " tokens repeat an earlier token's text");
  ZT_REQUIRE(file.find("tokenizer.ggml.merges"),
             file.path() << ": metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs its merges)");
  json merges = merges_from_file(file, vocab);

  Pipeline p;
  for (int64_t id = 0; id < v.size(); ++id)
    if (v.types[id] == kControl || v.types[id] == kUserDefined || v.types[id] == kUnknown)
      p.added[id] = v.types[id] != kUserDefined;
  p.normalizer = pre.normalizer;
  p.pre_tokenizer = pre.pre_tokenizer;
  p.decoder = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  p.model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", ids.unk ? json(v.tokens[*ids.unk]) : json(nullptr)},
             {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
             {"byte_fallback", false}, {"ignore_merges", pre.ignore_merges}, {"vocab", vocab}, {"merges", merges}};
  p.byte_level = true;
  p.clean_spaces = pre.clean_spaces;
  p.add_bos = pre.add_bos;
  return p;
}

// The merges transformers derives from a SentencePiece vocabulary that lists none (tokenization_utils_base.py's
// generate_merges, scored by tokenizer.ggml.scores): every cut of a token into two tokens, the token's score best
// first, then the longer left part, then the longer right part; ties keep the vocabulary's order, and one token's
// cuts the order of their parts' ids. Lengths count characters, as Python's len() does.
json merges_from_scores(const File& file, const Vocabulary& v, const std::unordered_map<std::string, int64_t>& last_id) {
  const std::vector<Value>& scores = array_of(file, "tokenizer.ggml.scores", ValueType::FLOAT32, "an array of float32");
  ZT_REQUIRE(static_cast<int64_t>(scores.size()) == v.size(),
             file.path() << ": tokenizer.ggml.scores has " << scores.size() << " scores for " << v.size() << " tokens");
  struct Cut {
    double score;
    size_t left_chars, right_chars;
    int64_t left_id, right_id;
    const std::string* token;
    size_t at;  // byte offset of the cut
  };
  std::vector<Cut> cuts, token_cuts;
  std::set<std::string_view> seen;
  for (const std::string& token : v.tokens) {
    // A repeated text counts once, where it first appears, with the score of its last appearance (a Python dict).
    if (!seen.insert(std::string_view(token)).second) continue;
    const int64_t id = last_id.at(token);
    const double score = scores[static_cast<size_t>(id)].float_value;
    ZT_REQUIRE(!std::isnan(score), file.path() << ": tokenizer.ggml.scores[" << id << "] is NaN");
    std::vector<size_t> starts;  // where each character after the first begins
    for (size_t i = 1; i < token.size(); ++i)
      if ((static_cast<unsigned char>(token[i]) & 0xC0) != 0x80) starts.push_back(i);
    token_cuts.clear();
    for (size_t k = 0; k < starts.size(); ++k) {
      const auto left = last_id.find(token.substr(0, starts[k])), right = last_id.find(token.substr(starts[k]));
      if (left != last_id.end() && right != last_id.end())
        token_cuts.push_back({score, k + 1, starts.size() - k, left->second, right->second, &token, starts[k]});
    }
    std::stable_sort(token_cuts.begin(), token_cuts.end(), [](const Cut& a, const Cut& b) {
      return a.left_id != b.left_id ? a.left_id < b.left_id : a.right_id < b.right_id;
    });
    cuts.insert(cuts.end(), token_cuts.begin(), token_cuts.end());
  }
  std::stable_sort(cuts.begin(), cuts.end(), [](const Cut& a, const Cut& b) {
    if (a.score != b.score) return a.score > b.score;
    if (a.left_chars != b.left_chars) return a.left_chars > b.left_chars;
    return a.right_chars > b.right_chars;
  });
  json merges = json::array();
  for (const Cut& cut : cuts) merges.push_back({cut.token->substr(0, cut.at), cut.token->substr(cut.at)});
  return merges;
}

// SentencePiece BPE ("llama": Llama-2, Mistral, TinyLlama) as transformers loads it from a GGUF
// (integrations/gguf, LlamaTokenizer): characters merged with byte fallback, a Metaspace that prepends "\u2581" to
// the first piece unless it starts with one. The merges are the file's or, usually, derived from the scores.
Pipeline sentencepiece_pipeline(const File& file, const std::string& model_type, const Vocabulary& v, const SpecialIds& ids) {
  ZT_REQUIRE(model_type != "qwen2",
             file.path() << ": a SentencePiece tokenizer in a qwen2 model; transformers tokenizes every qwen2 folder with "
                            "Qwen2Tokenizer's byte-level pipeline, so the exported folder could not keep it");
  if (optional_bool(file, "tokenizer.ggml.add_space_prefix") == false)
    ZT_LOG_WARN(file.path() << ": tokenizer.ggml.add_space_prefix is false, which llama.cpp honours but transformers "
                            "does not; the exported tokenizer prepends \"\u2581\" to the text as transformers does");
  // A Python dict of {token: id}: a repeated text keeps its last id.
  std::unordered_map<std::string, int64_t> last_id;
  json vocab = json::object();
  for (int64_t id = 0; id < v.size(); ++id) {
    last_id[v.tokens[id]] = id;
    vocab[v.tokens[id]] = id;
  }
  if (static_cast<int64_t>(last_id.size()) < v.size())
    ZT_LOG_WARN(file.path() << ": " << v.size() - static_cast<int64_t>(last_id.size())
                            << " tokens repeat an earlier token's text; each text keeps its last id, as transformers does");

  // Added tokens in transformers' order, a later step overriding an earlier one's special flag as it does:
  // LlamaTokenizer's default <unk>, <s> and </s> (transformers appends any missing one past the vocabulary, an id
  // the model has no row for; those are left out), CONTROL tokens, USER_DEFINED tokens, then the file's
  // bos/eos/unk/pad where not added yet.
  Pipeline p;
  for (const char* name : {"<unk>", "<s>", "</s>"})
    if (const auto found = last_id.find(name); found != last_id.end()) p.added[found->second] = true;
  for (int64_t id = 0; id < v.size(); ++id)
    if (v.types[id] == kControl && !v.tokens[id].empty()) p.added[last_id.at(v.tokens[id])] = true;
  for (int64_t id = 0; id < v.size(); ++id)
    if (v.types[id] == kUserDefined && !v.tokens[id].empty()) p.added[last_id.at(v.tokens[id])] = false;
  for (const auto& named : {ids.bos, ids.eos, ids.unk, ids.pad})
    if (named) p.added.emplace(last_id.at(v.tokens[*named]), true);
  const json merges =
      file.find("tokenizer.ggml.merges") ? merges_from_file(file, vocab) : merges_from_scores(file, v, last_id);

  p.normalizer = nullptr;
  p.pre_tokenizer = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  p.decoder = {{"type", "Sequence"},
               {"decoders", {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                             {{"type", "ByteFallback"}}, {{"type", "Fuse"}},
                             {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  p.model = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
             {"end_of_word_suffix", nullptr}, {"fuse_unk", true}, {"byte_fallback", true}, {"ignore_merges", false},
             {"vocab", vocab}, {"merges", merges}};
  p.clean_spaces = false;
  p.add_bos = true;  // llama.cpp's default for SentencePiece vocabularies
  return p;
}

// What add_special_tokens=True puts around one sequence, and around a pair.
json template_processing(const std::vector<std::string>& tokens, std::optional<int64_t> bos, std::optional<int64_t> eos,
                         bool add_bos, bool add_eos) {
  json single = json::array(), pair = json::array(), specials = json::object();
  auto special = [&](int64_t id, int type_id) { return json{{"SpecialToken", {{"id", tokens[id]}, {"type_id", type_id}}}}; };
  auto sequence = [](const char* which, int type_id) { return json{{"Sequence", {{"id", which}, {"type_id", type_id}}}}; };
  for (int part = 0; part < 2; ++part) {
    json& out = part == 0 ? single : pair;
    for (int segment = 0; segment <= part; ++segment) {
      if (add_bos) out.push_back(special(*bos, segment));
      out.push_back(sequence(segment == 0 ? "A" : "B", segment));
      if (add_eos) out.push_back(special(*eos, segment));
    }
  }
  if (add_bos) specials[tokens[*bos]] = {{"id", tokens[*bos]}, {"ids", {*bos}}, {"tokens", {tokens[*bos]}}};
  if (add_eos) specials[tokens[*eos]] = {{"id", tokens[*eos]}, {"ids", {*eos}}, {"tokens", {tokens[*eos]}}};
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}};
}

}  // namespace

HfTokenizerFiles gguf_tokenizer_to_hf(const File& file, const std::string& model_type, int64_t context) {
  const std::optional<std::string> model = optional_string(file, "tokenizer.ggml.model");
  ZT_REQUIRE(model.has_value(), file.path() << ": metadata 'tokenizer.ggml.model' is missing (no tokenizer in the file)");
  ZT_REQUIRE(*model == "gpt2" || *model == "llama",
             file.path() << ": tokenizer.ggml.model is '" << *model
                         << "'; ztune imports 'gpt2' (byte-level BPE) and 'llama' (SentencePiece BPE) tokenizers");
  const Vocabulary v = read_vocabulary(file);
  const std::vector<std::string>& tokens = v.tokens;
  const SpecialIds ids = read_special_ids(file, v.size());
  const Pipeline p = *model == "gpt2" ? byte_level_pipeline(file, model_type, v, ids) : sentencepiece_pipeline(file, model_type, v, ids);
  const std::optional<int64_t> &bos = ids.bos, &eos = ids.eos, &unk = ids.unk, &pad = ids.pad;
  // transformers' GGUF loader ignores these two flags; llama.cpp follows them, and so does the exported folder.
  const bool add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token").value_or(p.add_bos);
  const bool add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token").value_or(false);
  ZT_REQUIRE(!add_bos || bos.has_value(), file.path() << ": tokenizer.ggml.add_bos_token is true but there is no bos_token_id");
  ZT_REQUIRE(!add_eos || eos.has_value(), file.path() << ": tokenizer.ggml.add_eos_token is true but there is no eos_token_id");

  json added_tokens = json::array(), added_decoder = json::object();
  for (const auto& [id, special] : p.added) {
    added_tokens.push_back({{"id", id}, {"content", tokens[id]}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", false}, {"special", special}});
    added_decoder[std::to_string(id)] = {{"content", tokens[id]}, {"lstrip", false}, {"normalized", false},
                                         {"rstrip", false}, {"single_word", false}, {"special", special}};
  }

  json post_processor = template_processing(tokens, bos, eos, add_bos, add_eos);
  if (p.byte_level) {
    const json offsets = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
    post_processor = add_bos || add_eos ? json{{"type", "Sequence"}, {"processors", {offsets, post_processor}}} : offsets;
  }

  HfTokenizerFiles out;
  out.vocab_size = v.size();
  out.tokenizer = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added_tokens},
                   {"normalizer", p.normalizer}, {"pre_tokenizer", p.pre_tokenizer}, {"post_processor", post_processor},
                   {"decoder", p.decoder}, {"model", p.model}};

  auto text_of = [&](const std::optional<int64_t>& id) { return id ? json(tokens[*id]) : json(nullptr); };
  json& config = out.tokenizer_config;
  config["added_tokens_decoder"] = added_decoder;
  config["bos_token"] = text_of(bos);
  config["eos_token"] = text_of(eos);
  config["pad_token"] = text_of(pad);
  config["unk_token"] = text_of(unk);
  if (add_bos) config["add_bos_token"] = true;
  if (add_eos) config["add_eos_token"] = true;
  config["clean_up_tokenization_spaces"] = p.clean_spaces;
  config["model_max_length"] = context;
  // transformers 5 picks Qwen2Tokenizer for every qwen2 model; for llama the file's own pipeline must be used.
  config["tokenizer_class"] = model_type == "qwen2" ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast";
  // The chat template, and any named ones (tokenizer.chat_template.NAME), as transformers stores them.
  json named = json::array();
  for (const auto& [key, value] : file.metadata()) {
    std::string name;
    if (key == "tokenizer.chat_template") name = "default";
    else if (key.size() > 24 && key.compare(0, 24, "tokenizer.chat_template.") == 0) name = key.substr(24);
    else continue;
    const std::string text = optional_string(file, key).value_or("");
    ZT_REQUIRE(valid_utf8(text) && valid_utf8(name), file.path() << ": metadata '" << key << "' is not valid UTF-8");
    if (name == "default") config["chat_template"] = text;
    else named.push_back({{"name", name}, {"template", text}});
  }
  if (!named.empty()) {
    if (config.contains("chat_template")) named.insert(named.begin(), {{"name", "default"}, {"template", config["chat_template"]}});
    config["chat_template"] = named;
  }

  if (bos) out.special_ids["bos_token_id"] = *bos;
  if (eos) {
    json eos_ids = json::array({*eos});
    for (const auto& extra : {ids.eot, ids.eom})
      if (extra && *extra != *eos) eos_ids.push_back(*extra);
    out.special_ids["eos_token_id"] = eos_ids.size() == 1 ? eos_ids[0] : eos_ids;
  }
  if (pad) out.special_ids["pad_token_id"] = *pad;
  return out;
}

}  // namespace zt::exporting
