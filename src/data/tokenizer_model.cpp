#include "data/tokenizer_model.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/utf8.h"

namespace zt::data::tokenizer_model {
namespace {

using nlohmann::json;

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

}  // namespace

std::shared_ptr<const Model> load_tokenizer_model(const std::string& path) {
  const bool folder = std::filesystem::is_directory(path);
  const std::string file = folder ? (std::filesystem::path(path) / "tokenizer.json").string() : path;
  ZT_REQUIRE(std::filesystem::exists(file), file << ": no tokenizer.json (ztune needs the fast-tokenizer file)");
  json root = read_json_file(file);
  const std::string pipeline = folder ? apply_transformers_class(root, path) : "";
  return load_model(file, root, pipeline);
}

}  // namespace zt::data::tokenizer_model
