#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer.h"

#include <pcre2.h>

#include <algorithm>
#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "core/check.h"
#include "data/text_steps.h"
#include "data/utf8.h"

namespace zt::data {
namespace {

using nlohmann::json;

// Open-addressing map from a token-id pair to its merge (rank and resulting id).
class MergeTable {
 public:
  struct Merge {
    int32_t rank;
    int32_t id;
  };
  void reserve(size_t count) {
    size_t capacity = 16;
    while (capacity < count * 2) capacity <<= 1;
    keys_.assign(capacity, kEmpty);
    values_.assign(capacity, {0, 0});
    mask_ = capacity - 1;
  }
  void insert(int32_t left, int32_t right, Merge merge) {
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty && keys_[slot] != key) slot = (slot + 1) & mask_;
    if (keys_[slot] == key) return;  // the first (lowest-rank) rule for a pair wins
    keys_[slot] = key;
    values_[slot] = merge;
  }
  const Merge* find(int32_t left, int32_t right) const {
    uint64_t key = pack(left, right);
    size_t slot = hash(key) & mask_;
    while (keys_[slot] != kEmpty) {
      if (keys_[slot] == key) return &values_[slot];
      slot = (slot + 1) & mask_;
    }
    return nullptr;
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t pack(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  static size_t hash(uint64_t key) { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> 17); }
  std::vector<uint64_t> keys_;
  std::vector<Merge> values_;
  size_t mask_ = 0;
};

// Byte trie over the added tokens, for leftmost-longest matching.
struct AddedTrie {
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;  // sorted by byte
    int32_t token = -1;
  };
  std::vector<Node> nodes = std::vector<Node>(1);
  std::array<bool, 256> first_byte{};

  void insert(const std::string& text, int32_t token) {
    int32_t node = 0;
    for (char c : text) {
      auto byte = static_cast<uint8_t>(c);
      auto& children = nodes[static_cast<size_t>(node)].children;
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (it != children.end() && it->first == byte) {
        node = it->second;
      } else {
        int32_t created = static_cast<int32_t>(nodes.size());
        children.insert(it, {byte, created});
        nodes.emplace_back();
        node = created;
      }
    }
    nodes[static_cast<size_t>(node)].token = token;
    if (!text.empty()) first_byte[static_cast<uint8_t>(text[0])] = true;
  }
  // Longest added token starting at `text[0]`: {token, length} or {-1, 0}.
  std::pair<int32_t, size_t> longest(std::string_view text) const {
    int32_t node = 0;
    std::pair<int32_t, size_t> best{-1, 0};
    for (size_t i = 0; i < text.size(); ++i) {
      const auto& children = nodes[static_cast<size_t>(node)].children;
      auto byte = static_cast<uint8_t>(text[i]);
      auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
      if (it == children.end() || it->first != byte) break;
      node = it->second;
      if (nodes[static_cast<size_t>(node)].token >= 0) best = {nodes[static_cast<size_t>(node)].token, i + 1};
    }
    return best;
  }
};

struct RegexDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// The code point of a string holding one UTF-8 character.
uint32_t code_point_of(std::string_view text) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  if (text.size() == 1) return bytes[0];
  uint32_t code = bytes[0] & (0xFF >> (text.size() + 1));
  for (size_t k = 1; k < text.size(); ++k) code = (code << 6) | (bytes[k] & 0x3F);
  return code;
}

// Everything read from tokenizer.json; immutable and shared by copies.
struct Model {
  std::string path;
  bool byte_level = false;              // pieces are merged over bytes (ByteLevel pre-tokenizer), else characters
  std::vector<std::string> id_bytes;    // what each id stands for in the text (added tokens: their content)
  std::vector<std::string> id_spelling; // the token as tokenizer.json spells it, for the decoder
  std::vector<uint8_t> special;         // 1 for special added tokens
  std::unordered_map<std::string, int32_t> vocab;  // id_bytes -> id
  std::unordered_map<std::string, int32_t> added;  // content -> id
  std::array<int32_t, 256> byte_token{};           // byte-level: the token of each byte, -1 if none
  std::unordered_map<uint32_t, int32_t> char_token; // character-level: the token of each character
  std::array<int32_t, 256> fallback_token{};       // byte_fallback: the id of "<0xXX>", -1 if none
  bool byte_fallback = false;
  int32_t unk_id = -1;  // model.unk_token: stands for what has no token
  bool fuse_unk = false;
  bool ignore_merges = false;
  MergeTable merges;
  AddedTrie raw_added;         // added tokens matched in the raw text
  AddedTrie normalized_added;  // added tokens with "normalized": true, matched after the normalizer
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Decoder> decoder;
  bool decode_by_bytes = false;  // the decoder is ByteLevel alone: decoding joins id_bytes
  std::vector<int32_t> special_prefix, special_suffix;  // the post-processor's tokens around one sequence
  std::unique_ptr<pcre2_code, RegexDeleter> fast_regex;  // the byte-level families' one split
  std::string pipeline;  // the transformers class whose pipeline replaced the file's, or ""
};

[[noreturn]] void unsupported(const std::string& path, const std::string& what) {
  ZT_THROW(path << ": " << what << " is not supported by ztune's tokenizer; ztune reads BPE tokenizers (byte-level "
                   "as Qwen/Llama-3/GPT-2, or SentencePiece-style with byte fallback as Llama-2/Mistral)");
}

// The post-processor's tokens around a single sequence (what add_special_tokens=True adds).
void read_post_processor(const json& spec, Model& model, const std::string& where) {
  if (spec.is_null()) return;
  const std::string type = spec.value("type", "");
  auto id_of = [&](const json& pair, const std::string& at) {
    ZT_REQUIRE(pair.is_array() && pair.size() == 2 && pair[1].is_number_integer(),
               model.path << ": " << at << " is not a [token, id] pair");
    return pair[1].get<int32_t>();
  };
  if (type == "Sequence") {
    size_t i = 0;
    for (const json& inner : spec.at("processors"))
      read_post_processor(inner, model, where + ".processors[" + std::to_string(i++) + "]");
  } else if (type == "ByteLevel") {
    // Adjusts offsets only.
  } else if (type == "TemplateProcessing") {
    bool after_sequence = false;
    size_t i = 0;
    for (const json& item : spec.at("single")) {
      const std::string at = where + ".single[" + std::to_string(i++) + "]";
      if (item.contains("Sequence")) {
        after_sequence = true;
      } else if (item.contains("SpecialToken")) {
        const std::string name = item["SpecialToken"].at("id").get<std::string>();
        const json& entry = spec.at("special_tokens").at(name);
        auto& side = after_sequence ? model.special_suffix : model.special_prefix;
        for (const json& id : entry.at("ids")) side.push_back(id.get<int32_t>());
        if (entry.at("ids").empty()) {  // written from tokenizer_config.json's bos/eos names
          auto added = model.added.find(name);
          auto in_vocab = model.vocab.find(name);
          ZT_REQUIRE(added != model.added.end() || in_vocab != model.vocab.end(),
                     model.path << ": tokenizer_config.json's special token '" << name << "' is not a token");
          side.push_back(added != model.added.end() ? added->second : in_vocab->second);
        }
      } else {
        unsupported(model.path, at + " = " + item.dump());
      }
    }
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    model.special_prefix.push_back(id_of(spec.at("cls"), where + ".cls"));
    model.special_suffix.push_back(id_of(spec.at("sep"), where + ".sep"));
  } else {
    unsupported(model.path, where + ".type = \"" + type + "\"");
  }
}

std::unique_ptr<pcre2_code, RegexDeleter> compile_fast_regex(const std::string& pattern, const std::string& path) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.c_str()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                   &error_code, &error_offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    ZT_THROW(path << ": pre-tokenizer regex does not compile at offset " << error_offset << ": "
                  << reinterpret_cast<const char*>(message));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  return std::unique_ptr<pcre2_code, RegexDeleter>(code);
}

json read_json_file(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  ZT_REQUIRE(stream.good(), path << ": cannot open");
  try {
    return json::parse(stream);
  } catch (const json::exception& error) {
    ZT_THROW(path << ": not valid JSON (" << error.what() << ")");
  }
}

// transformers 5 builds some tokenizer classes' pipelines itself and keeps only the vocabulary, merges, added
// tokens and post-processor of tokenizer.json; a model folder must tokenize as AutoTokenizer makes it, since
// that is what ms-swift trains with. Returns the class whose pipeline was applied, or "" (the file as it is).
// Like transformers, a tokenizer_config.json that sets add_bos_token or add_eos_token (or a file without a
// post-processor) gets the post-processor those flags describe.
std::string apply_transformers_class(json& root, const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path tokenizer_config_path = fs::path(folder) / "tokenizer_config.json";
  const fs::path config_path = fs::path(folder) / "config.json";
  const json tokenizer_config = fs::exists(tokenizer_config_path) ? read_json_file(tokenizer_config_path.string()) : json::object();
  const json config = fs::exists(config_path) ? read_json_file(config_path.string()) : json::object();
  // transformers writes null for options left unset: those take the class default.
  auto flag = [&](const char* key, bool fallback) {
    const json value = tokenizer_config.value(key, json());
    return value.is_boolean() ? value.get<bool>() : fallback;
  };
  auto text = [](const json& object, const char* key) {
    const json value = object.value(key, json());
    return value.is_string() ? value.get<std::string>() : std::string();
  };
  auto strip_fast = [](std::string name) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, "Fast") == 0) name.resize(name.size() - 4);
    return name;
  };
  const std::string configured = text(tokenizer_config, "tokenizer_class");
  std::string hub_class = strip_fast(configured.empty() ? text(config, "tokenizer_class") : configured);
  const std::string model_type = text(config, "model_type");
  // AutoTokenizer's class for the model type (transformers 5.19, the families ztune trains); "" where it has none.
  static const std::map<std::string, std::string> kRegistered = {
      {"qwen2", "Qwen2Tokenizer"}, {"qwen3", "Qwen2Tokenizer"}, {"qwen2_moe", "Qwen2Tokenizer"},
      {"qwen3_moe", "Qwen2Tokenizer"}, {"gpt2", "GPT2Tokenizer"}, {"mistral", "TokenizersBackend"},
      {"mixtral", "TokenizersBackend"}};
  const auto registered = kRegistered.find(model_type);
  std::string chosen = hub_class;
  if (registered != kRegistered.end() && (hub_class.empty() || hub_class != registered->second)) {
    if (registered->second == "TokenizersBackend") chosen = "";
    else if (hub_class.empty() || model_type == "qwen2") chosen = registered->second;  // a hub class known wrong
  }
  json& bpe = root["model"];
  auto rebuilt_model = [&](bool byte_fallback, bool fuse_unk, bool keep_unk) {
    bpe["byte_fallback"] = byte_fallback;
    bpe["fuse_unk"] = fuse_unk;
    bpe["dropout"] = nullptr;
    bpe["ignore_merges"] = false;
    bpe["continuing_subword_prefix"] = nullptr;
    bpe["end_of_word_suffix"] = nullptr;
    if (!keep_unk) bpe["unk_token"] = nullptr;
  };
  if (chosen == "LlamaTokenizer") {
    const bool prefix_space = flag("add_prefix_space", true);
    const bool legacy = flag("legacy", false);
    rebuilt_model(true, true, true);
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"split", false},
                             {"prepend_scheme", prefix_space ? (legacy ? "always" : "first") : "never"}};
    json steps = json::array({{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                              {{"type", "ByteFallback"}}, {{"type", "Fuse"}}});
    if (prefix_space) steps.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    root["decoder"] = {{"type", "Sequence"}, {"decoders", steps}};
  } else if (chosen == "GPT2Tokenizer") {
    rebuilt_model(false, false, true);
    root["normalizer"] = nullptr;
    root["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", flag("add_prefix_space", false)},
                             {"use_regex", true}};
    root["decoder"] = {{"type", "ByteLevel"}};
  } else if (chosen == "Qwen2Tokenizer") {
    rebuilt_model(false, false, false);
    root["normalizer"] = {{"type", "NFC"}};
    const char* regex = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
    root["pre_tokenizer"] = {{"type", "Sequence"},
                             {"pretokenizers",
                              {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
                               {{"type", "ByteLevel"}, {"add_prefix_space", flag("add_prefix_space", false)},
                                {"use_regex", false}}}}};
    root["decoder"] = {{"type", "ByteLevel"}};
  } else {
    chosen.clear();
  }
  if (tokenizer_config.contains("add_bos_token") || tokenizer_config.contains("add_eos_token") ||
      root.value("post_processor", json()).is_null()) {
    auto token_text = [&](const char* key) {
      const json value = tokenizer_config.value(key, json());
      return value.is_string() ? value.get<std::string>() : value.is_object() ? value.value("content", "") : "";
    };
    json single = json::array(), special = json::object();
    auto add_special = [&](const std::string& token) {
      single.push_back({{"SpecialToken", {{"id", token}, {"type_id", 0}}}});
      special[token] = {{"id", token}, {"ids", json::array()}, {"tokens", {token}}};  // ids filled in by load_model
    };
    const std::string bos = token_text("bos_token"), eos = token_text("eos_token");
    if (flag("add_bos_token", false) && !bos.empty()) add_special(bos);
    single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
    if (flag("add_eos_token", false) && !eos.empty()) add_special(eos);
    root["post_processor"] = {{"type", "TemplateProcessing"}, {"single", single}, {"special_tokens", special}};
  }
  return chosen;
}

std::shared_ptr<const Model> load_model(const std::string& path, const json& root, std::string pipeline) {
  auto model = std::make_shared<Model>();
  model->pipeline = std::move(pipeline);
  model->path = path;
  const json& bpe = root.at("model");
  if (bpe.value("type", "BPE") != "BPE") unsupported(path, "model.type = \"" + bpe.value("type", "") + "\"");
  // transformers 5 writes "" for both on every BPE tokenizer it saves: the same as none.
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json value = bpe.value(key, json());
    if (!value.is_null() && !(value.is_string() && value.get<std::string>().empty()))
      unsupported(path, std::string("model.") + key + " = " + value.dump());
  }
  if (const json dropout = bpe.value("dropout", json()); dropout.is_number() && dropout.get<double>() > 0)
    unsupported(path, "model.dropout = " + dropout.dump() + " (BPE dropout)");
  model->byte_fallback = bpe.value("byte_fallback", false);
  model->ignore_merges = bpe.value("ignore_merges", false);
  model->fuse_unk = bpe.value("fuse_unk", false);
  model->normalizer = std::make_unique<Normalizer>(root.value("normalizer", json()), path, "normalizer");
  model->pre_tokenizer = std::make_unique<PreTokenizer>(root.value("pre_tokenizer", json()), path, "pre_tokenizer");
  model->decoder = std::make_unique<Decoder>(root.value("decoder", json()), path, "decoder");
  model->byte_level = model->pre_tokenizer->byte_level();
  if (model->pre_tokenizer->is_single_isolated_split())
    model->fast_regex = compile_fast_regex(model->pre_tokenizer->fast_pattern(), path);

  // A vocabulary entry in the text's own bytes: byte-level spellings mapped back to bytes.
  std::string raw;
  auto text_of = [&](const std::string& spelling) -> const std::string& {
    return model->byte_level && byte_level_decode(spelling, raw) ? raw : spelling;
  };
  int32_t max_id = -1;
  std::vector<std::pair<std::string, int32_t>> entries;
  for (auto& [token, id_json] : bpe.at("vocab").items()) {
    int32_t id = id_json.get<int32_t>();
    ZT_REQUIRE(id >= 0, path << ": negative id for token '" << token << "'");
    entries.emplace_back(token, id);
    max_id = std::max(max_id, id);
  }
  const json added_tokens = root.value("added_tokens", json::array());
  for (const json& entry : added_tokens) {
    const std::string content = entry.at("content").get<std::string>();
    for (const char* key : {"lstrip", "rstrip", "single_word"})
      if (entry.value(key, false)) unsupported(path, std::string("added_tokens[") + key + " = true] on '" + content + "'");
    max_id = std::max(max_id, entry.at("id").get<int32_t>());
  }
  model->id_bytes.assign(static_cast<size_t>(max_id + 1), std::string());
  model->id_spelling.assign(static_cast<size_t>(max_id + 1), std::string());
  model->special.assign(static_cast<size_t>(max_id + 1), 0);
  for (auto& [spelling, id] : entries) {
    const std::string& bytes = text_of(spelling);
    model->vocab.emplace(bytes, id);
    model->id_bytes[static_cast<size_t>(id)] = bytes;
    model->id_spelling[static_cast<size_t>(id)] = spelling;
  }
  const bool has_normalizer = !model->normalizer->empty();
  for (const json& entry : added_tokens) {
    const std::string content = entry.at("content").get<std::string>();
    const int32_t id = entry.at("id").get<int32_t>();
    const bool special = entry.value("special", false);
    model->added[content] = id;
    model->id_spelling[static_cast<size_t>(id)] = content;
    // What the ByteLevel decoder makes of the content, as tokenizers decodes added tokens through the decoder.
    model->id_bytes[static_cast<size_t>(id)] = model->decoder->byte_level() && byte_level_decode(content, raw) ? raw : content;
    model->special[static_cast<size_t>(id)] = special ? 1 : 0;
    // Tokens marked "normalized" are matched in the normalised text, spelled as the normalizer makes them.
    if (entry.value("normalized", !special) && has_normalizer) {
      std::string scratch;
      const std::string spelled(model->normalizer->apply(content, scratch));
      model->normalized_added.insert(spelled, id);
      model->id_spelling[static_cast<size_t>(id)] = spelled;  // what tokenizers' id_to_token gives, and decodes
    } else {
      model->raw_added.insert(content, id);
    }
  }

  // What stands for text without a token of its own: "<0xXX>" (byte_fallback), else model.unk_token, else
  // nothing (the text is dropped, as HF does: SmolLM2's byte vocabulary lacks 21 bytes).
  int missing_bytes = 0;
  for (int b = 0; b < 256; ++b) {
    auto found = model->vocab.find(std::string(1, static_cast<char>(b)));
    model->byte_token[static_cast<size_t>(b)] = model->byte_level && found != model->vocab.end() ? found->second : -1;
    missing_bytes += model->byte_level && found == model->vocab.end();
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto fallback = model->vocab.find(name);
    model->fallback_token[static_cast<size_t>(b)] = model->byte_fallback && fallback != model->vocab.end() ? fallback->second : -1;
  }
  if (!model->byte_level)
    for (auto& [text, id] : model->vocab)
      if (!text.empty() && utf8_sequence_length(static_cast<uint8_t>(text[0])) == static_cast<int>(text.size()))
        model->char_token.emplace(code_point_of(text), id);
  if (const json unk = bpe.value("unk_token", json()); unk.is_string()) {
    const std::string& name = unk.get_ref<const std::string&>();
    auto found = model->vocab.find(text_of(name));
    if (found != model->vocab.end()) model->unk_id = found->second;
    else if (auto added = model->added.find(name); added != model->added.end()) model->unk_id = added->second;
    ZT_REQUIRE(model->unk_id >= 0 || (model->byte_level && missing_bytes == 0),
               path << ": model.unk_token '" << name << "' is not in model.vocab");
  }

  // Merges, as "a b" strings or ["a", "b"] pairs; rank = position.
  const json& merges = bpe.at("merges");
  model->merges.reserve(merges.size());
  std::string left_raw, right_raw;
  int32_t rank = 0;
  for (const json& merge : merges) {
    std::string left, right;
    if (merge.is_string()) {
      const std::string& text = merge.get_ref<const std::string&>();
      size_t space = text.find(' ', 1);
      ZT_REQUIRE(space != std::string::npos, path << ": model.merges[" << rank << "] '" << text << "' is not two tokens");
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else {
      ZT_REQUIRE(merge.is_array() && merge.size() == 2, path << ": model.merges[" << rank << "] is not a pair");
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    }
    left_raw = text_of(left);
    right_raw = text_of(right);
    auto left_id = model->vocab.find(left_raw), right_id = model->vocab.find(right_raw),
         merged = model->vocab.find(left_raw + right_raw);
    ZT_REQUIRE(left_id != model->vocab.end() && right_id != model->vocab.end() && merged != model->vocab.end(),
               path << ": model.merges[" << rank << "] '" << left << " " << right
                    << "' uses or makes a token missing from the vocabulary");
    model->merges.insert(left_id->second, right_id->second, {rank++, merged->second});
  }
  read_post_processor(root.value("post_processor", json()), *model, "post_processor");
  const json decoder_spec = root.value("decoder", json());
  model->decode_by_bytes = model->byte_level && decoder_spec.is_object() && decoder_spec.value("type", "") == "ByteLevel";
  return model;
}

// A bounded cache from a pre-tokenized piece to its ids.
class WordCache {
 public:
  const std::vector<int32_t>* find(std::string_view piece) const {
    auto found = map_.find(piece);
    return found == map_.end() ? nullptr : &found->second;
  }
  void insert(std::string_view piece, const std::vector<int32_t>& ids) {
    if (piece.size() > 128) return;
    if (map_.size() >= 1 << 18) {
      map_.clear();
      keys_.clear();
    }
    keys_.emplace_back(piece);
    map_.emplace(keys_.back(), ids);
  }

 private:
  std::deque<std::string> keys_;  // stable storage for the string_view keys
  std::unordered_map<std::string_view, std::vector<int32_t>> map_;
};

}  // namespace

struct Tokenizer::Impl {
  std::shared_ptr<const Model> model;
  std::unique_ptr<pcre2_match_data, MatchDataDeleter> match_data;
  mutable WordCache cache;
  // Scratch reused across calls.
  mutable std::string sanitized, normalized, prefixed;
  mutable std::vector<int32_t> symbols, prev, next, word_ids;
  mutable std::vector<TextPiece> pieces;
  struct Candidate {
    int32_t rank, position, id, right_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  mutable std::vector<Candidate> heap;

  explicit Impl(std::shared_ptr<const Model> shared) : model(std::move(shared)) {
    if (model->fast_regex) match_data.reset(pcre2_match_data_create_from_pattern(model->fast_regex.get(), nullptr));
  }

  // The first symbols of a piece: one per byte (byte-level) or per character, as HF's BPE makes them. Text
  // without a token becomes its "<0xXX>" tokens (byte_fallback), else the unk token (runs fused when fuse_unk),
  // else nothing, so that its neighbours meet. A pending unk is added before the next known symbol, not before
  // fallback bytes: tokenizers' order.
  int32_t initial_symbols(std::string_view piece) const {
    const Model& m = *model;
    symbols.resize(piece.size());
    int32_t n = 0;
    bool unk_pending = false;
    auto add_unk = [&] {
      if (m.unk_id < 0) return;
      if (unk_pending && !m.fuse_unk) symbols[n++] = m.unk_id;
      unk_pending = true;
    };
    for (size_t i = 0; i < piece.size();) {
      size_t length = 1;
      int32_t id = -1;
      if (m.byte_level) {
        id = m.byte_token[static_cast<uint8_t>(piece[i])];
      } else {
        length = static_cast<size_t>(std::max(1, utf8_sequence_length(static_cast<uint8_t>(piece[i]))));
        length = std::min(length, piece.size() - i);
        auto found = m.char_token.find(code_point_of(piece.substr(i, length)));
        if (found != m.char_token.end()) id = found->second;
      }
      if (id >= 0) {
        if (unk_pending) symbols[n++] = m.unk_id;
        unk_pending = false;
        symbols[n++] = id;
      } else if (m.byte_fallback && std::all_of(piece.begin() + static_cast<long>(i), piece.begin() + static_cast<long>(i + length),
                                                [&](char c) { return m.fallback_token[static_cast<uint8_t>(c)] >= 0; })) {
        for (size_t k = i; k < i + length; ++k) symbols[n++] = m.fallback_token[static_cast<uint8_t>(piece[k])];
      } else {
        add_unk();
      }
      i += length;
    }
    if (unk_pending) symbols[n++] = m.unk_id;
    return n;
  }

  // BPE over one piece (HF's algorithm: lowest rank first, leftmost among equals).
  void bpe(std::string_view piece, std::vector<int32_t>& out) const {
    if (model->ignore_merges) {
      auto whole = model->vocab.find(std::string(piece));
      if (whole != model->vocab.end()) {
        out.push_back(whole->second);
        return;
      }
    }
    const int32_t n = initial_symbols(piece);
    prev.resize(static_cast<size_t>(n));
    next.resize(static_cast<size_t>(n));
    heap.clear();
    auto greater = std::greater<Candidate>();
    for (int32_t i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    auto push_pair = [&](int32_t position) {
      if (position < 0) return;
      int32_t right = next[position];
      if (right < 0) return;
      if (const MergeTable::Merge* merge = model->merges.find(symbols[position], symbols[right])) {
        heap.push_back({merge->rank, position, merge->id, symbols[right]});
        std::push_heap(heap.begin(), heap.end(), greater);
      }
    };
    for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), greater);
      Candidate top = heap.back();
      heap.pop_back();
      int32_t right = next[top.position];
      // Stale: the symbol was merged away, or its neighbour changed since this pair was queued.
      if (symbols[top.position] < 0 || right < 0 || symbols[right] != top.right_id) continue;
      const MergeTable::Merge* merge = model->merges.find(symbols[top.position], symbols[right]);
      if (merge == nullptr || merge->id != top.id) continue;
      symbols[top.position] = top.id;
      symbols[right] = -1;
      next[top.position] = next[right];
      if (next[right] >= 0) prev[next[right]] = top.position;
      push_pair(prev[top.position]);
      push_pair(top.position);
    }
    for (int32_t i = 0; n > 0 && i >= 0 && i < n; i = next[i]) out.push_back(symbols[i]);
  }

  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (const std::vector<int32_t>* cached = cache.find(piece)) {
      out.insert(out.end(), cached->begin(), cached->end());
      return;
    }
    word_ids.clear();
    bpe(piece, word_ids);
    cache.insert(piece, word_ids);
    out.insert(out.end(), word_ids.begin(), word_ids.end());
  }

  // The byte-level families' pre-tokenizer: one regex, matches and the gaps between them are pieces.
  void encode_fast(std::string_view text, std::vector<int32_t>& out) const {
    if (model->pre_tokenizer->add_prefix_space() && text.front() != ' ') {
      prefixed.assign(1, ' ');
      prefixed.append(text);
      text = prefixed;
    }
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t offset = 0;
    while (offset < text.size()) {
      int rc = pcre2_match(model->fast_regex.get(), subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match_data.get(),
                           nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) break;
      ZT_CHECK(rc > 0, "pre-tokenizer regex match failed with code " << rc);
      const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data.get());
      size_t start = ovector[0], end = ovector[1];
      if (end == start) {  // an empty match cuts nothing: search again one character on
        if (start >= text.size()) break;
        offset = start + static_cast<size_t>(std::max(1, utf8_sequence_length(static_cast<uint8_t>(text[start]))));
        continue;
      }
      if (start > offset) encode_piece(text.substr(offset, start - offset), out);  // unmatched gap: its own piece
      encode_piece(text.substr(start, end - start), out);
      offset = end;
    }
    if (offset < text.size()) encode_piece(text.substr(offset), out);
  }

  // Normalised text between added tokens: pre-tokenize, merge.
  void encode_normalized(std::string_view text, bool at_start, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    if (model->fast_regex) return encode_fast(text, out);
    model->pre_tokenizer->split(text, at_start, pieces);
    for (const TextPiece& piece : pieces) encode_piece(piece.text, out);
  }

  // Raw text between added tokens: normalise, split out the normalised added tokens, encode the rest.
  void encode_segment(std::string_view segment, bool at_start, std::vector<int32_t>& out) const {
    if (segment.empty()) return;
    std::string_view text = model->normalizer->apply(segment, normalized);
    if (model->normalized_added.nodes.size() == 1) return encode_normalized(text, at_start, out);
    const std::string owned(text);  // the normaliser's scratch is reused below
    split_added(owned, model->normalized_added, out, [&](std::string_view part, size_t begin) {
      encode_normalized(part, at_start && begin == 0, out);
    });
  }

  // Calls `encode(text, begin)` for the text between the added tokens of `trie` (leftmost-longest), which go
  // straight to `out`.
  template <class Encode>
  static void split_added(std::string_view text, const AddedTrie& trie, std::vector<int32_t>& out, Encode&& encode) {
    size_t segment_start = 0;
    for (size_t i = 0; i < text.size(); ++i) {
      if (!trie.first_byte[static_cast<uint8_t>(text[i])]) continue;
      auto [token, length] = trie.longest(text.substr(i));
      if (token < 0) continue;
      encode(text.substr(segment_start, i - segment_start), segment_start);
      out.push_back(token);
      i += length - 1;
      segment_start = i + 1;
    }
    encode(text.substr(segment_start), segment_start);
  }
};

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::Tokenizer(const Tokenizer& other) : impl_(std::make_unique<Impl>(other.impl_->model)) {}
Tokenizer& Tokenizer::operator=(const Tokenizer& other) {
  if (this != &other) impl_ = std::make_unique<Impl>(other.impl_->model);
  return *this;
}

Tokenizer Tokenizer::load(const std::string& path) {
  const bool folder = std::filesystem::is_directory(path);
  const std::string file = folder ? (std::filesystem::path(path) / "tokenizer.json").string() : path;
  ZT_REQUIRE(std::filesystem::exists(file), file << ": no tokenizer.json (ztune needs the fast-tokenizer file)");
  json root = read_json_file(file);
  const std::string pipeline = folder ? apply_transformers_class(root, path) : "";
  Tokenizer tokenizer;
  tokenizer.impl_ = std::make_unique<Impl>(load_model(file, root, pipeline));
  return tokenizer;
}

std::string Tokenizer::describe() const {
  const Model& model = *impl_->model;
  std::string text = std::string(model.byte_level ? "byte-level" : "character") + " BPE" +
                     (model.byte_fallback ? " with byte fallback" : "") + ", " + std::to_string(size()) + " ids";
  if (!model.pipeline.empty()) text += ", pipeline of transformers' " + model.pipeline + " (as AutoTokenizer builds it)";
  return text;
}

void Tokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids) const {
  const Impl& impl = *impl_;
  if (!is_valid_utf8(text)) {
    impl.sanitized = replace_invalid_utf8(text);
    text = impl.sanitized;
  }
  Impl::split_added(text, impl.model->raw_added, ids, [&](std::string_view segment, size_t begin) {
    impl.encode_segment(segment, begin == 0, ids);
  });
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids);
  return ids;
}

const std::vector<int32_t>& Tokenizer::special_prefix() const { return impl_->model->special_prefix; }
const std::vector<int32_t>& Tokenizer::special_suffix() const { return impl_->model->special_suffix; }

const std::string& Tokenizer::token_bytes(int32_t id) const {
  ZT_REQUIRE(id >= 0 && id < size(), "token id " << id << " is outside the vocabulary (size " << size() << ")");
  return impl_->model->id_bytes[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Model& model = *impl_->model;
  auto kept = [&](int32_t id) {
    // Ids past the vocabulary (embedding rows with no token) are skipped, as HF's decode skips them.
    return id >= 0 && id < size() && !(skip_special_tokens && is_special(id));
  };
  if (model.decode_by_bytes) {
    std::string bytes;
    for (int32_t id : ids)
      if (kept(id)) bytes += model.id_bytes[static_cast<size_t>(id)];
    return replace_invalid_utf8(bytes);
  }
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids)
    if (kept(id)) tokens.push_back(model.id_spelling[static_cast<size_t>(id)]);
  return model.decoder->decode(std::move(tokens));
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  std::string key(token);
  if (auto found = impl_->model->added.find(key); found != impl_->model->added.end()) return found->second;
  if (auto found = impl_->model->vocab.find(key); found != impl_->model->vocab.end()) return found->second;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < size() && impl_->model->special[static_cast<size_t>(id)] != 0;
}

int32_t Tokenizer::size() const { return static_cast<int32_t>(impl_->model->id_bytes.size()); }

// As tokenizers' DecodeStream: decode a window of ids and emit what it adds to the window's previous text,
// holding back while the text ends in U+FFFD (a character still incomplete). The window restarts at the last
// emitted token, so decoders that treat the first token specially (Metaspace) agree with a whole decode.
std::string StreamDecoder::push(int32_t id) {
  if (!(id >= 0 && id < tokenizer_.size() && !(skip_special_ && tokenizer_.is_special(id)))) return "";
  ids_.push_back(id);
  std::string text = tokenizer_.decode(ids_, false);
  const bool incomplete = text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0;
  if (text.size() <= prefix_.size() || incomplete) return "";
  std::string added = text.compare(0, prefix_.size(), prefix_) == 0 ? text.substr(prefix_.size()) : text;
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<long>(prefix_index_));
  prefix_index_ = ids_.size();
  prefix_ = tokenizer_.decode(ids_, false);
  return added;
}

std::string StreamDecoder::finish() {
  std::string text = tokenizer_.decode(ids_, false);
  std::string rest = text.size() > prefix_.size() ? text.substr(prefix_.size()) : "";
  ids_.clear();
  prefix_.clear();
  prefix_index_ = 0;
  return rest;
}

}  // namespace zt::data
