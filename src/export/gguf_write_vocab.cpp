#include "export/gguf_write_vocab.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/text.h"
#include "export/gguf_conventions.h"
#include "export/sentencepiece_model.h"

namespace zt::exporting::gguf_out {
namespace {

namespace fs = std::filesystem;


// TextModel.does_token_look_special.
bool looks_special(const std::string& token) {
  auto wrapped = [&](const std::string& open, const std::string& close) {
    return starts_with(token, open) && ends_with(token, close);
  };
  return token == "<pad>" || token == "<mask>" || token == "<2mass>" || token == "[@BOS@]" || wrapped("<|", "|>") ||
         wrapped("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") || wrapped("<unused", ">");
}

// One pre-tokenizer step reduced to what changes the split (trim_offsets only moves offsets).
json step_meaning(const json& step) {
  if (!step.is_object()) return step;
  const json type = step.value("type", json());
  if (type == "Split") return {type, step.value("pattern", json()), step.value("behavior", json()), step.value("invert", json(false))};
  if (type == "ByteLevel") return {type, step.value("add_prefix_space", json(false)), step.value("use_regex", json(true))};
  if (type == "Digits") return {type, step.value("individual_digits", json(false))};
  return step;
}
json steps_meaning(const json& pre_tokenizer) {
  json steps = json::array();
  if (pre_tokenizer.is_object() && pre_tokenizer.value("type", json()) == "Sequence") {
    for (const json& step : pre_tokenizer.value("pretokenizers", json::array())) steps.push_back(step_meaning(step));
  } else if (!pre_tokenizer.is_null()) {
    steps.push_back(step_meaning(pre_tokenizer));
  }
  return steps;
}

// tokenizer.ggml.pre: the llama.cpp pre-tokenizer whose tokenizer.json spelling (gguf_conventions.h, the one GGUF
// import writes back) cuts text as this tokenizer.json does. llama.cpp picks it by hashing a test text's tokens,
// which only matches the released vocabularies; the split rule itself is what llama.cpp runs.
std::string pre_tokenizer_name(const json& tokenizer, const std::string& path) {
  // llama.cpp normalises nothing; NFC (Qwen2's) changes only unnormalised input, as import notes.
  const json normalizer = tokenizer.value("normalizer", json());
  const json normalizer_type = normalizer.is_object() ? normalizer.value("type", json()) : json();
  const bool plain_normalizer = normalizer.is_null() || normalizer_type == "NFC" ||
                                (normalizer_type == "Sequence" && normalizer.value("normalizers", json::array()).empty());
  const json steps = steps_meaning(tokenizer.value("pre_tokenizer", json()));
  if (plain_normalizer)
    for (const char* name : {"llama-bpe", "qwen2", "smollm", "gpt-2"})
      if (steps_meaning(gguf::pre_tokenizer(name)->pre_tokenizer) == steps) return name;
  ZT_THROW(path << ": its normalizer " << normalizer.dump() << " and pre_tokenizer " << tokenizer.value("pre_tokenizer", json()).dump()
                << " are not one of the llama.cpp pre-tokenizers ztune writes (llama-bpe: Llama 3's split, qwen2: "
                   "Qwen2's split, smollm: digits then GPT-2's, gpt-2: byte-level); convert this model with llama.cpp's "
                   "convert_hf_to_gguf.py");
}

// _set_vocab_gpt2: a byte-level BPE tokenizer.json; `vocab_size` is config.json's. Any other kind of tokenizer, or a
// pre-tokenizer llama.cpp does not run, is a zt::Error naming `path`.
Vocabulary read_byte_level_vocabulary(const json& tokenizer, int64_t vocab_size, const std::string& path) {
  const json& model = tokenizer.value("model", json::object());
  ZT_REQUIRE(model.is_object() && model.value("type", json()) == "BPE" && model.contains("vocab") && model["vocab"].is_object(),
             path << ": model.type is " << (model.is_object() ? model.value("type", json()).dump() : "missing")
                  << "; GGUF export writes BPE tokenizers (byte-level, or SentencePiece-style with a tokenizer.model or "
                     "byte fallback), not Unigram or WordPiece ones");
  const std::string decoder = tokenizer.value("decoder", json()).dump();
  ZT_REQUIRE(model.value("byte_fallback", json(false)) != true && decoder.find("\"ByteLevel\"") != std::string::npos,
             path << ": a BPE tokenizer with byte fallback or without a ByteLevel decoder, and no tokenizer.model beside "
                     "it; convert_hf_to_gguf.py reads such a tokenizer.json as SentencePiece only for llama/mistral "
                     "models whose decoder is a Sequence. Put the model's tokenizer.model in the folder, or convert it "
                     "with llama.cpp's convert_hf_to_gguf.py");
  Vocabulary v;
  v.model = "gpt2";
  v.path = path;
  v.pre = pre_tokenizer_name(tokenizer, path);

  // transformers' get_vocab(): the model's vocabulary, then the added tokens over it.
  std::map<std::string, int64_t> id_of;
  for (auto entry = model["vocab"].begin(); entry != model["vocab"].end(); ++entry) {
    ZT_REQUIRE(entry->is_number_integer(), path << ": vocab entry '" << entry.key() << "' has no integer id");
    id_of[entry.key()] = entry->get<int64_t>();
  }
  struct Added { bool special; };
  std::map<std::string, Added> added;
  for (const json& entry : tokenizer.value("added_tokens", json::array())) {
    ZT_REQUIRE(entry.is_object() && entry.contains("id") && entry["id"].is_number_integer() && entry.contains("content") &&
                   entry["content"].is_string(),
               path << ": added_tokens has an entry without an integer id and a content: " << entry.dump());
    id_of[entry["content"].get<std::string>()] = entry["id"].get<int64_t>();
    added[entry["content"].get<std::string>()] = {entry.value("special", json(false)) == true};
  }
  std::vector<std::optional<std::string>> by_id(vocab_size);
  for (const auto& [token, id] : id_of) {
    ZT_REQUIRE(id >= 0 && id < vocab_size, path << ": token '" << token << "' has id " << id << ", not below config.json's "
                                                  "vocab_size " << vocab_size);
    by_id[id] = token;
  }
  for (int64_t id = 0; id < vocab_size; ++id) {
    if (!by_id[id]) {
      v.tokens.push_back("[PAD" + std::to_string(id) + "]");
      v.types.push_back(gguf::kUnused);
      continue;
    }
    std::string token = *by_id[id];
    const auto found = added.find(token);
    if (found == added.end()) {
      v.types.push_back(gguf::kNormal);
    } else if (found->second.special || looks_special(token)) {
      v.types.push_back(gguf::kControl);
    } else {
      for (size_t at; (at = token.find("\xE2\x96\x81")) != std::string::npos;) token.replace(at, 3, " ");
      v.types.push_back(gguf::kUserDefined);
    }
    v.tokens.push_back(std::move(token));
  }

  // SpecialVocab: merges as "a b", a space inside a part of a pair written as U+0120.
  for (const json& merge : model.value("merges", json::array())) {
    if (merge.is_string()) {
      v.merges.push_back(merge.get<std::string>());
      continue;
    }
    ZT_REQUIRE(merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string(),
               path << ": model.merges has an entry that is neither \"a b\" nor [\"a\", \"b\"]: " << merge.dump());
    std::string joined;
    for (int part = 0; part < 2; ++part) {
      if (part) joined += ' ';
      for (char c : merge[part].get<std::string>()) joined += c == ' ' ? std::string("\xC4\xA0") : std::string(1, c);
    }
    v.merges.push_back(std::move(joined));
  }
  return v;
}

// Python's truth of a JSON value (`if token_data.get("special"):`).
bool truthy(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number()) return value.get<double>() != 0.0;
  if (value.is_string() || value.is_array() || value.is_object()) return !value.empty();
  return false;
}

// Python's int() of an added_tokens_decoder key; negative ids (which Python would index from the end) are refused.
int64_t token_id_of(const std::string& key, const std::string& path) {
  ZT_REQUIRE(!key.empty() && key.size() <= 18 && key.find_first_not_of("0123456789") == std::string::npos,
             path << ": added_tokens_decoder has the key '" << key << "', not a token id");
  return std::stoll(key);
}

void replace_metaspace(std::string& token) {
  for (size_t at; (at = token.find("\xE2\x96\x81")) != std::string::npos;) token.replace(at, 3, " ");
}

// An added token over a SentencePiece vocabulary, as _create_vocab_sentencepiece writes it (score -1000).
void set_added(Vocabulary& v, int64_t id, const std::string& token, int32_t type) {
  v.tokens[id] = token;
  v.scores[id] = -1000.0f;
  v.types[id] = type;
}

// TextModel._create_vocab_sentencepiece: config.json's vocab_size ids ([PADn], UNUSED, -10000 where the model has no
// piece), the pieces of tokenizer.model, then added_tokens.json's and tokenizer_config.json's added_tokens_decoder's
// tokens over them; ids at or past vocab_size are left out with a warning, as the converter does.
Vocabulary read_sentencepiece_vocabulary(const fs::path& dir, int64_t vocab_size, const json& tokenizer_config) {
  Vocabulary v;
  v.model = "llama";
  v.pre = "default";
  v.path = (dir / "tokenizer.model").string();
  const sentencepiece::Model spm = sentencepiece::read_model(v.path);
  if (spm.has_charsmap || spm.remove_extra_whitespaces || !spm.add_dummy_prefix)
    ZT_LOG_WARN(v.path << ": its normalizer (" << (spm.normalizer_name.empty() ? "unnamed" : spm.normalizer_name)
                       << (spm.has_charsmap ? ", a normalisation table" : "")
                       << (spm.remove_extra_whitespaces ? ", collapses spaces" : "")
                       << (spm.add_dummy_prefix ? "" : ", no dummy prefix")
                       << ") is not what llama.cpp runs; llama.cpp may tokenize such text unlike sentencepiece");

  for (int64_t id = 0; id < vocab_size; ++id) v.tokens.push_back("[PAD" + std::to_string(id) + "]");
  v.scores.assign(vocab_size, -10000.0f);
  v.types.assign(vocab_size, gguf::kUnused);
  const int64_t num_pieces = static_cast<int64_t>(spm.pieces.size());
  if (num_pieces > vocab_size)
    ZT_LOG_WARN(v.path << ": pieces " << vocab_size << ".." << num_pieces - 1 << " are past config.json's vocab_size "
                       << vocab_size << " and left out, as convert_hf_to_gguf.py leaves them out");
  for (int64_t id = 0; id < std::min(num_pieces, vocab_size); ++id) {
    const sentencepiece::Piece& piece = spm.pieces[id];
    v.tokens[id] = piece.text;
    v.scores[id] = piece.score;
    // sentencepiece's IsUnknown/IsControl/IsUnused/IsByte; user-defined pieces stay NORMAL.
    switch (piece.type) {
      case sentencepiece::kUnknown: v.types[id] = gguf::kUnknown; break;
      case sentencepiece::kControl: v.types[id] = gguf::kControl; break;
      case sentencepiece::kUnused: v.types[id] = gguf::kUnused; break;
      case sentencepiece::kByte: v.types[id] = gguf::kByte; break;
      default: v.types[id] = gguf::kNormal;
    }
  }

  const fs::path added_path = dir / "added_tokens.json";
  if (fs::is_regular_file(added_path)) {
    const json added = read_json_file(added_path.string());
    ZT_REQUIRE(added.is_object(), added_path.string() << ": not a JSON object of token -> id");
    for (auto entry = added.begin(); entry != added.end(); ++entry) {
      ZT_REQUIRE(entry->is_number_integer() && entry->get<int64_t>() >= 0,
                 added_path.string() << ": token '" << entry.key() << "' has id " << entry->dump() << ", not a token id");
      const int64_t id = entry->get<int64_t>();
      if (id >= vocab_size) {
        ZT_LOG_WARN(added_path.string() << ": token '" << entry.key() << "' (id " << id << ") is past config.json's "
                                        "vocab_size " << vocab_size << "; left out, as convert_hf_to_gguf.py does");
        continue;
      }
      set_added(v, id, entry.key(), gguf::kUserDefined);
    }
  }

  const json decoder = tokenizer_config.is_object() ? tokenizer_config.value("added_tokens_decoder", json()) : json();
  if (decoder.is_object()) {
    const std::string where = (dir / "tokenizer_config.json").string();
    for (auto entry = decoder.begin(); entry != decoder.end(); ++entry) {
      const int64_t id = token_id_of(entry.key(), where);
      const json& data = entry.value();
      ZT_REQUIRE(data.is_object() && data.contains("content") && data["content"].is_string(),
                 where << ": added_tokens_decoder entry " << entry.key() << " has no content text");
      std::string token = data["content"].get<std::string>();
      if (id >= vocab_size) {
        ZT_LOG_WARN(where << ": added token '" << token << "' (id " << id << ") is past config.json's vocab_size "
                          << vocab_size << "; left out, as convert_hf_to_gguf.py does");
        continue;
      }
      if (v.types[id] != gguf::kUnused && v.tokens[id] != token)
        ZT_LOG_INFO(where << ": added token " << id << " '" << token << "' replaces '" << v.tokens[id] << "'");
      if (truthy(data.value("special", json())) || looks_special(token)) {
        set_added(v, id, token, gguf::kControl);
      } else {
        replace_metaspace(token);  // the converter's "pre-normalize user-defined spaces"
        set_added(v, id, token, gguf::kUserDefined);
      }
    }
  }
  return v;
}

// LlamaHfVocab's test for a SentencePiece-style tokenizer.json: BPE with byte fallback and a Sequence decoder.
bool is_llama_hf_tokenizer(const json& tokenizer) {
  const json model = tokenizer.value("model", json());
  const json decoder = tokenizer.value("decoder", json());
  return model.is_object() && model.value("type", json()) == "BPE" && truthy(model.value("byte_fallback", json(false))) &&
         decoder.is_object() && decoder.value("type", json()) == "Sequence";
}

// What transformers 5's all_special_tokens is for the folder, which LlamaHfVocab makes CONTROL: the named tokens
// (LlamaTokenizer's defaults <unk>, <s>, </s>, overridden by tokenizer_config.json's bos/eos/unk/sep/pad/cls/mask_token
// and, for a config without added_tokens_decoder, special_tokens_map.json's), extra_special_tokens (or
// additional_special_tokens), and tokenizer_config.json's other *_token texts.
std::vector<std::string> transformers_special_tokens(const fs::path& dir, const json& tokenizer_config) {
  const std::string where = (dir / "tokenizer_config.json").string();
  const json config = tokenizer_config.is_object() ? tokenizer_config : json::object();
  static const char* const kNamed[] = {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token",
                                       "mask_token"};
  std::map<std::string, std::string> named;
  const json tokenizer_class = config.value("tokenizer_class", json());
  if (tokenizer_class == "LlamaTokenizer" || tokenizer_class == "LlamaTokenizerFast") {
    named = {{"unk_token", "<unk>"}, {"bos_token", "<s>"}, {"eos_token", "</s>"}};
  } else {
    ZT_REQUIRE(tokenizer_class.is_null() || tokenizer_class == "PreTrainedTokenizerFast" ||
                   tokenizer_class == "TokenizersBackend",
               where << ": tokenizer_class " << tokenizer_class.dump() << " has special-token defaults GGUF export does "
                        "not know (it knows LlamaTokenizer, LlamaTokenizerFast, PreTrainedTokenizerFast); put the "
                        "model's tokenizer.model in the folder, or convert it with llama.cpp's convert_hf_to_gguf.py");
  }
  std::vector<std::string> extra;
  auto set_named = [&](const std::string& key, const json& value) {
    if (value.is_null()) named.erase(key);
    else if (!text_of(value).empty()) named[key] = text_of(value);
  };
  auto add_extra = [&](const json& list) {
    if (list.is_array())
      for (const json& token : list)
        if (!text_of(token).empty()) extra.push_back(text_of(token));
    if (list.is_object())  // {"image_token": "<image>"}: named model-specific tokens
      for (const auto& [key, token] : list.items())
        if (!text_of(token).empty()) extra.push_back(text_of(token));
  };
  for (const char* key : kNamed)
    if (config.contains(key)) set_named(key, config[key]);
  add_extra(config.contains("extra_special_tokens") ? config["extra_special_tokens"]
                                                    : config.value("additional_special_tokens", json()));
  const fs::path map_path = dir / "special_tokens_map.json";
  if (!config.contains("added_tokens_decoder") && fs::is_regular_file(map_path)) {
    const json map = read_json_file(map_path.string());
    ZT_REQUIRE(map.is_object(), map_path.string() << ": not a JSON object");
    for (const char* key : kNamed)
      if (map.contains(key)) set_named(key, map[key]);
    add_extra(map.value("extra_special_tokens", map.value("additional_special_tokens", json())));
  }
  for (const auto& [key, value] : config.items()) {
    const bool is_named = std::find(std::begin(kNamed), std::end(kNamed), key) != std::end(kNamed);
    const bool token_object = value.is_object() && value.value("__type", json()) == "AddedToken";
    if (!is_named && ends_with(key, "_token") && (value.is_string() || token_object) && !text_of(value).empty())
      extra.push_back(text_of(value));
  }
  std::vector<std::string> out;
  for (const auto& [key, token] : named) out.push_back(token);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

// _set_vocab_llama_hf, gguf-py's LlamaHfVocab as it reads a folder through transformers 5: the tokenizer.json model's
// vocabulary (<0xXX> BYTE, transformers' special tokens CONTROL, the rest NORMAL), then the added tokens past it
// (special CONTROL, others USER_DEFINED), every score -1000. Where the converter would write tokens at the wrong ids
// (added ids with gaps) or transformers would invent tokens (a special token tokenizer.json lacks), this refuses.
Vocabulary read_llama_hf_vocabulary(const fs::path& dir, int64_t vocab_size, const json& tokenizer,
                                    const json& tokenizer_config, const std::string& path) {
  const json& vocab = tokenizer["model"].value("vocab", json());
  ZT_REQUIRE(vocab.is_object() && !vocab.empty(), path << ": model.vocab is not a non-empty object of token -> id");
  const int64_t num_base = static_cast<int64_t>(vocab.size());
  std::vector<std::optional<std::string>> base(num_base);
  for (auto entry = vocab.begin(); entry != vocab.end(); ++entry) {
    ZT_REQUIRE(entry->is_number_integer() && entry->get<int64_t>() >= 0 && entry->get<int64_t>() < num_base &&
                   !base[entry->get<int64_t>()],
               path << ": vocab entry '" << entry.key() << "' has id " << entry->dump() << "; the ids of model.vocab "
                    "must be 0.." << num_base - 1 << ", each once");
    base[entry->get<int64_t>()] = entry.key();
  }

  // transformers' added tokens: tokenizer_config.json's added_tokens_decoder over tokenizer.json's added_tokens (a
  // legacy folder's added_tokens.json first); get_added_vocab() maps each text to its highest id.
  std::map<int64_t, std::string> added_by_id;
  const json config = tokenizer_config.is_object() ? tokenizer_config : json::object();
  const fs::path added_path = dir / "added_tokens.json";
  if (!config.contains("added_tokens_decoder") && fs::is_regular_file(added_path)) {
    const json added = read_json_file(added_path.string());
    ZT_REQUIRE(added.is_object(), added_path.string() << ": not a JSON object of token -> id");
    for (auto entry = added.begin(); entry != added.end(); ++entry) {
      ZT_REQUIRE(entry->is_number_integer() && entry->get<int64_t>() >= 0,
                 added_path.string() << ": token '" << entry.key() << "' has id " << entry->dump() << ", not a token id");
      added_by_id[entry->get<int64_t>()] = entry.key();
    }
  }
  for (const json& entry : tokenizer.value("added_tokens", json::array())) {
    ZT_REQUIRE(entry.is_object() && entry.contains("id") && entry["id"].is_number_integer() && entry["id"].get<int64_t>() >= 0 &&
                   entry.contains("content") && entry["content"].is_string(),
               path << ": added_tokens has an entry without a token id and a content: " << entry.dump());
    added_by_id[entry["id"].get<int64_t>()] = entry["content"].get<std::string>();
  }
  const json decoder = config.value("added_tokens_decoder", json());
  if (decoder.is_object())
    for (auto entry = decoder.begin(); entry != decoder.end(); ++entry) {
      const std::string where = (dir / "tokenizer_config.json").string();
      const std::string token = text_of(entry.value());
      ZT_REQUIRE(!token.empty(), where << ": added_tokens_decoder entry " << entry.key() << " has no content text");
      added_by_id[token_id_of(entry.key(), where)] = token;
    }
  std::map<std::string, int64_t> added_id;  // get_added_vocab()
  for (const auto& [id, token] : added_by_id) added_id[token] = id;
  std::vector<std::pair<int64_t, std::string>> past_base;
  for (const auto& [id, token] : added_by_id) {
    if (id < num_base) {
      ZT_REQUIRE(*base[id] == token, path << ": added token " << id << " '" << token << "' differs from the vocabulary's '"
                                          << *base[id] << "' at that id; convert it with llama.cpp's convert_hf_to_gguf.py");
    } else if (added_id[token] == id) {
      past_base.emplace_back(id, token);
    }
  }
  for (size_t i = 0; i < past_base.size(); ++i)
    ZT_REQUIRE(past_base[i].first == num_base + static_cast<int64_t>(i),
               path << ": added token '" << past_base[i].second << "' has id " << past_base[i].first << " where "
                    << num_base + static_cast<int64_t>(i) << " is next; LlamaHfVocab would write it at the wrong id. "
                       "Put the model's tokenizer.model in the folder, or renumber the added tokens");

  std::set<int64_t> special_ids;
  std::set<std::string> specials;
  for (const std::string& token : transformers_special_tokens(dir, config)) {
    const auto added = added_id.find(token);
    const int64_t id = added != added_id.end() ? added->second : vocab.value(token, json(-1)).get<int64_t>();
    ZT_REQUIRE(id >= 0, dir.string() << ": the special token '" << token << "' (tokenizer_config.json or the tokenizer "
                        "class's default) is not in tokenizer.json; transformers, and convert_hf_to_gguf.py through it, "
                        "would append it as a new token. Add it to tokenizer.json's added_tokens, or name an existing one");
    special_ids.insert(id);
    specials.insert(token);
  }

  Vocabulary v;
  v.model = "llama";
  v.pre = "default";
  v.path = path;
  auto is_byte = [](const std::string& token) {
    return token.size() == 6 && starts_with(token, "<0x") && token[5] == '>' && std::isxdigit(static_cast<unsigned char>(token[3])) &&
           std::isxdigit(static_cast<unsigned char>(token[4]));
  };
  for (int64_t id = 0; id < num_base; ++id) {
    v.tokens.push_back(*base[id]);
    v.types.push_back(is_byte(*base[id]) ? gguf::kByte : special_ids.count(id) ? gguf::kControl : gguf::kNormal);
  }
  for (const auto& [id, token] : past_base) {
    v.tokens.push_back(token);
    v.types.push_back(specials.count(token) ? gguf::kControl : gguf::kUserDefined);
  }
  v.scores.assign(v.tokens.size(), -1000.0f);
  if (static_cast<int64_t>(v.tokens.size()) != vocab_size)
    ZT_LOG_WARN(path << ": " << v.tokens.size() << " tokens, config.json's vocab_size is " << vocab_size
                     << "; written as convert_hf_to_gguf.py writes them, but llama.cpp may refuse a file whose token "
                        "count is not the embedding's row count");
  return v;
}

}  // namespace

std::string text_of(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) return entry["content"].get<std::string>();
  return "";
}

Vocabulary read_folder_vocabulary(const std::string& model_dir, bool llama_family, int64_t vocab_size,
                                  const json& tokenizer, const json& tokenizer_config) {
  const fs::path dir(model_dir);
  if (fs::is_regular_file(dir / "tokenizer.model")) return read_sentencepiece_vocabulary(dir, vocab_size, tokenizer_config);
  const std::string path = (dir / "tokenizer.json").string();
  ZT_REQUIRE(tokenizer.is_object() && !tokenizer.empty(),
             model_dir << ": no tokenizer.json nor tokenizer.model; GGUF export needs the tokenizer");
  if (llama_family && is_llama_hf_tokenizer(tokenizer))
    return read_llama_hf_vocabulary(dir, vocab_size, tokenizer, tokenizer_config, path);
  return read_byte_level_vocabulary(tokenizer, vocab_size, path);
}

SpecialTokens read_special_tokens(const std::string& model_dir, const json& tokenizer, json tokenizer_config,
                                  int64_t num_tokens, const std::string& path) {
  SpecialTokens out;
  const bool has_config = tokenizer_config.is_object() && !tokenizer_config.empty();
  auto set_add = [&](const std::string& type, bool value, bool overwrite) {
    for (auto& [name, old] : out.add)
      if (name == type) {
        if (overwrite) old = value;
        return;
      }
    out.add.emplace_back(type, value);
  };
  auto piece_id = [](const json& piece, const char* kind) {
    return piece.is_object() && piece.contains(kind) && piece[kind].is_object() ? text_of(piece[kind].value("id", json()))
                                                                                : std::string();
  };
  auto special_id = [&](const json& piece) { return piece_id(piece, "SpecialToken"); };
  auto sequence_id = [&](const json& piece) { return piece_id(piece, "Sequence"); };
  std::vector<std::string> types = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
  auto config_text = [&](const char* key) { return has_config ? text_of(tokenizer_config.value(key, json())) : std::string(); };
  std::string bos = config_text("bos_token"), cls = config_text("cls_token"), eos = config_text("eos_token"),
              sep = config_text("sep_token");
  if (bos.empty() && !cls.empty() && has_config) tokenizer_config["bos_token"] = bos = cls;
  if (eos.empty() && !sep.empty() && has_config) tokenizer_config["eos_token"] = eos = sep;

  const json post = tokenizer.value("post_processor", json());
  const json processors = post.is_object() ? post.value("processors", json::array({post})) : json::array();
  for (const json& processor : processors) {
    const json type = processor.is_object() ? processor.value("type", json()) : json();
    if (type == "ByteLevel") {
      set_add("bos", false, false);
      set_add("eos", false, false);
    } else if (type == "RobertaProcessing") {
      for (const char* name : {"bos", "eos", "sep"}) set_add(name, true, true);
      const json cls_entry = processor.value("cls", json::array({bos})), sep_entry = processor.value("sep", json::array({eos}));
      if (cls.empty() && has_config && cls_entry.is_array() && !cls_entry.empty())
        tokenizer_config["cls_token"] = cls = text_of(cls_entry[0]);
      if (sep.empty() && has_config && sep_entry.is_array() && !sep_entry.empty())
        tokenizer_config["sep_token"] = sep = text_of(sep_entry[0]);
    } else if (type == "TemplateProcessing") {
      const json single = processor.value("single", json::array()), pair = processor.value("pair", json::array());
      std::string first, last;
      if (single.size() > 1) {
        first = special_id(single[0]);
        if (!first.empty()) {
          if (!has_config) {
            bos = first;
          } else if (first != bos && first != cls) {
            if (bos.empty()) tokenizer_config["bos_token"] = bos = first;
            if (cls.empty()) tokenizer_config["cls_token"] = cls = first;
          }
          set_add("bos", first == bos || first == cls, true);
        }
        last = special_id(single.back());
        if (!last.empty()) {
          if (!has_config) {
            eos = last;
          } else if (last != eos) {
            // The template ends with another token: it becomes the eos, the configured one the eot (or eom).
            for (const char* spare : {"eot", "eom"})
              if (std::find(types.begin(), types.end(), spare) == types.end()) {
                types.push_back(spare);
                tokenizer_config[std::string(spare) + "_token"] = eos;
                break;
              }
            tokenizer_config["eos_token"] = eos = last;
          }
          set_add("eos", last == eos, true);
        }
      }
      if (!pair.empty()) {
        const size_t start = !first.empty() && special_id(pair[0]) == first ? 1 : 0;
        const size_t stop = !last.empty() && special_id(pair.back()) == last ? pair.size() - 1 : pair.size();
        if (start + 2 < stop && sequence_id(pair[start]) == "A" && sequence_id(pair[stop - 1]) == "B") {
          // A [sep] [eos] B
          bool add_sep = false;
          const std::string entry = special_id(pair[start + 1]);
          if (!entry.empty() && (entry == sep || entry == eos) && last.empty()) add_sep = true;
          if (stop - start - 2 == 2) {
            const std::string second = special_id(pair[start + 2]);
            if (!second.empty() && (second == sep || second == eos)) add_sep = true;
          }
          set_add("sep", add_sep, true);
          if (add_sep && sep.empty() && has_config) tokenizer_config["sep_token"] = sep = eos;
        }
      }
    }
  }

  auto set_id = [&](const std::string& type, const json& id) {
    if (!id.is_number_integer()) return;
    ZT_REQUIRE(id.get<int64_t>() >= 0, path << ": special token " << type << " has id " << id.dump());
    if (num_tokens >= 0 && id.get<int64_t>() >= num_tokens) {
      ZT_LOG_WARN(model_dir << ": special token " << type << " has id " << id.get<int64_t>() << ", past the "
                            << num_tokens << " tokens; not written, as gguf-py's SpecialVocab leaves it out");
      return;
    }
    for (const auto& [name, old] : out.ids)
      if (name == type) return;
    out.ids.emplace_back(type, id.get<int64_t>());
  };
  if (has_config) {
    const fs::path dir(model_dir);
    json alternative;
    if (fs::is_regular_file(dir / "chat_template.jinja")) {
      std::ifstream in(dir / "chat_template.jinja", std::ios::binary);
      alternative = std::string(std::istreambuf_iterator<char>(in), {});
      std::vector<fs::path> extra;
      if (fs::is_directory(dir / "additional_chat_templates"))
        for (const auto& entry : fs::directory_iterator(dir / "additional_chat_templates"))
          if (entry.path().extension() == ".jinja") extra.push_back(entry.path());
      std::sort(extra.begin(), extra.end());
      if (!extra.empty()) {
        alternative = json::array({{{"name", "default"}, {"template", alternative}}});
        for (const fs::path& file : extra) {
          std::ifstream template_in(file, std::ios::binary);
          alternative.push_back({{"name", file.stem().string()},
                                 {"template", std::string(std::istreambuf_iterator<char>(template_in), {})}});
        }
      }
    } else if (fs::is_regular_file(dir / "chat_template.json")) {
      alternative = read_json_file((dir / "chat_template.json").string()).value("chat_template", json());
    }
    const json chat_template = tokenizer_config.contains("chat_template") ? tokenizer_config["chat_template"] : alternative;
    if (chat_template.is_string() || chat_template.is_array()) out.chat_template = chat_template;
    else if (!chat_template.is_null()) ZT_LOG_WARN(model_dir << ": chat_template is neither text nor a list; not written");

    const json added_tokens = tokenizer.value("added_tokens", json::array());
    for (const std::string& type : types) {
      const json add_entry = tokenizer_config.value("add_" + type + "_token", json());
      if (add_entry.is_boolean()) set_add(type, add_entry.get<bool>(), false);
      const json entry = tokenizer_config.value(type + "_token", json());
      if (!entry.is_string() && !(entry.is_object() && entry.contains("content") && entry["content"].is_string())) continue;
      const std::string content = text_of(entry);
      for (const json& token : added_tokens)
        if (token.is_object() && token.value("content", json()) == content) {
          set_id(type, token.value("id", json()));
          break;
        }
    }
  }
  const json config = read_json_file((fs::path(model_dir) / "config.json").string());
  for (const std::string& type : types) {
    json id = config.value(type + "_token_id", json());
    if (id.is_null() && config.contains("text_config") && config["text_config"].is_object())
      id = config["text_config"].value(type + "_token_id", json());
    set_id(type, id);
  }
  return out;
}

}  // namespace zt::exporting::gguf_out
