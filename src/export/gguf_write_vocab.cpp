#include "export/gguf_write_vocab.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "core/check.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/text.h"
#include "export/gguf_conventions.h"

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

}  // namespace

std::string text_of(const json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) return entry["content"].get<std::string>();
  return "";
}

Vocabulary read_vocabulary(const json& tokenizer, int64_t vocab_size, const std::string& path) {
  const json& model = tokenizer.value("model", json::object());
  ZT_REQUIRE(model.is_object() && model.value("type", json()) == "BPE" && model.contains("vocab") && model["vocab"].is_object(),
             path << ": model.type is " << (model.is_object() ? model.value("type", json()).dump() : "missing")
                  << "; GGUF export writes byte-level BPE tokenizers only (SentencePiece/Unigram/WordPiece are not supported yet)");
  const std::string decoder = tokenizer.value("decoder", json()).dump();
  ZT_REQUIRE(model.value("byte_fallback", json(false)) != true && decoder.find("\"ByteLevel\"") != std::string::npos,
             path << ": a SentencePiece-style BPE tokenizer (byte fallback, no byte-level decoder); GGUF export "
                     "writes byte-level BPE (tokenizer.ggml.model gpt2) tokenizers only for now");
  Vocabulary v;
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

SpecialTokens read_special_tokens(const std::string& model_dir, const json& tokenizer, json tokenizer_config,
                                  const std::string& path) {
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
