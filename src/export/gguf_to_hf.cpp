// A GGUF file (llama, qwen2) written as a Hugging Face model folder: config.json from the metadata, the tensors
// dequantised (the llama q/k permutation undone), tokenizer.json and tokenizer_config.json rebuilt (byte-level BPE
// split as llama.cpp splits it; SentencePiece BPE as transformers reads it from the GGUF).
#include "export/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>

#include "core/check.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "export/gguf_conventions.h"

namespace zt::exporting {

// ---- GGUF -> Hugging Face folder ----

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using gguf::File;
using gguf::TensorInfo;
using gguf::Value;
using gguf::ValueType;
using gguf::layer_names;
using gguf::PreTokenizer;
using gguf::kNormal;
using gguf::kUnknown;
using gguf::kControl;
using gguf::kUserDefined;

// ---- typed metadata, each wrong type or missing key an error naming the key ----

[[noreturn]] void wrong_type(const File& file, const std::string& key, const Value& value, const char* wanted) {
  ZT_THROW(file.path() << ": metadata '" << key << "' is a " << gguf::value_type_name(value.type) << ", expected " << wanted);
}

const Value& required(const File& file, const std::string& key) {
  const Value* value = file.find(key);
  ZT_REQUIRE(value != nullptr, file.path() << ": metadata '" << key << "' is missing");
  return *value;
}

int64_t as_integer(const File& file, const std::string& key, const Value& value) {
  if (!value.is_integer()) wrong_type(file, key, value, "an integer");
  const bool is_signed = value.type == ValueType::INT8 || value.type == ValueType::INT16 ||
                         value.type == ValueType::INT32 || value.type == ValueType::INT64;
  if (is_signed) return value.int_value;
  ZT_REQUIRE(value.uint_value <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             file.path() << ": metadata '" << key << "' = " << value.uint_value << " is out of range");
  return static_cast<int64_t>(value.uint_value);
}

// A per-model integer; llama.cpp also allows one per layer, which must then be the same for every layer.
int64_t model_integer(const File& file, const std::string& key, std::optional<int64_t> fallback = std::nullopt) {
  const Value* value = file.find(key);
  if (value == nullptr) {
    ZT_REQUIRE(fallback.has_value(), file.path() << ": metadata '" << key << "' is missing");
    return *fallback;
  }
  if (value->type != ValueType::ARRAY) return as_integer(file, key, *value);
  ZT_REQUIRE(!value->items.empty(), file.path() << ": metadata '" << key << "' is an empty array");
  const int64_t first = as_integer(file, key, value->items[0]);
  for (const Value& item : value->items)
    ZT_REQUIRE(as_integer(file, key, item) == first,
               file.path() << ": metadata '" << key << "' differs between layers, which a Hugging Face config cannot say");
  return first;
}

// The float32 a GGUF stores, as the shortest decimal that reads back as that float (1e-06, not 9.99999997e-07),
// which is what the Hugging Face config held before conversion.
double shortest_decimal(double value, bool from_float32) {
  if (!from_float32) return value;
  const float stored = static_cast<float>(value);
  char text[40];
  for (int precision = 1; precision <= 9; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(stored));
    if (std::strtof(text, nullptr) == stored) return std::strtod(text, nullptr);
  }
  return value;
}

double model_number(const File& file, const std::string& key, std::optional<double> fallback = std::nullopt) {
  const Value* value = file.find(key);
  if (value == nullptr) {
    ZT_REQUIRE(fallback.has_value(), file.path() << ": metadata '" << key << "' is missing");
    return *fallback;
  }
  if (value->is_integer()) return static_cast<double>(as_integer(file, key, *value));
  if (!value->is_number()) wrong_type(file, key, *value, "a number");
  return shortest_decimal(value->float_value, value->type == ValueType::FLOAT32);
}

std::optional<std::string> optional_string(const File& file, const std::string& key) {
  const Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type != ValueType::STRING) wrong_type(file, key, *value, "a string");
  return value->string_value;
}

std::optional<bool> optional_bool(const File& file, const std::string& key) {
  const Value* value = file.find(key);
  if (value == nullptr) return std::nullopt;
  if (value->type != ValueType::BOOL) wrong_type(file, key, *value, "a bool");
  return value->uint_value != 0;
}

const std::vector<Value>& array_of(const File& file, const std::string& key, ValueType element, const char* wanted) {
  const Value& value = required(file, key);
  if (value.type != ValueType::ARRAY || (value.element_type != element && !value.items.empty()))
    ZT_THROW(file.path() << ": metadata '" << key << "' is not " << wanted);
  return value.items;
}

bool valid_utf8(const std::string& text) {
  size_t i = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  while (i < text.size()) {
    const unsigned char lead = bytes[i];
    int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? lead : lead & (0xFF >> (length + 1));
    for (int k = 1; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return false;
      code = code << 6 | (bytes[i + k] & 0x3F);
    }
    static const uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    i += length;
  }
  return true;
}

// ---- the model: its shape from the metadata, its tensors under Hugging Face names ----

struct Architecture {
  const char* gguf_name;
  const char* hf_class;
  const char* model_type;
  bool permuted_qk;  // convert_hf_to_gguf.py's LlamaModel.permute rearranged q and k for ggml's rope
};
const Architecture kArchitectures[] = {
    {"llama", "LlamaForCausalLM", "llama", true},
    {"qwen2", "Qwen2ForCausalLM", "qwen2", false},  // Qwen2Model converts without permuting (NEOX rope)
};

struct ModelShape {
  const Architecture* arch = nullptr;
  int64_t hidden = 0, num_layers = 0, intermediate = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t context = 0, vocab = 0;
  double rms_eps = 1e-6;
  json rope = json::object();
  bool tied = false, attention_bias = false, mlp_bias = false;
};

// What one output tensor is made of.
struct Planned {
  const TensorInfo* info = nullptr;
  std::string hf_name;
  std::vector<int64_t> shape;  // torch order
  int64_t unpermute_heads = 0;  // > 0: undo the llama q/k permutation over this many heads
};

// The shape a layer tensor must have, from the config.
std::vector<int64_t> expected_layer_shape(const ModelShape& m, const std::string& hf_suffix) {
  const int64_t q_rows = m.num_heads * m.head_dim, kv_rows = m.num_kv_heads * m.head_dim;
  if (hf_suffix == "input_layernorm.weight" || hf_suffix == "post_attention_layernorm.weight") return {m.hidden};
  if (hf_suffix == "self_attn.q_proj.weight") return {q_rows, m.hidden};
  if (hf_suffix == "self_attn.q_proj.bias") return {q_rows};
  if (hf_suffix == "self_attn.k_proj.weight" || hf_suffix == "self_attn.v_proj.weight") return {kv_rows, m.hidden};
  if (hf_suffix == "self_attn.k_proj.bias" || hf_suffix == "self_attn.v_proj.bias") return {kv_rows};
  if (hf_suffix == "self_attn.o_proj.weight") return {m.hidden, q_rows};
  if (hf_suffix == "self_attn.o_proj.bias") return {m.hidden};
  if (hf_suffix == "mlp.gate_proj.weight" || hf_suffix == "mlp.up_proj.weight") return {m.intermediate, m.hidden};
  if (hf_suffix == "mlp.gate_proj.bias" || hf_suffix == "mlp.up_proj.bias") return {m.intermediate};
  if (hf_suffix == "mlp.down_proj.weight") return {m.hidden, m.intermediate};
  return {m.hidden};  // mlp.down_proj.bias
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Llama 3.1-style rope scaling survives in a GGUF only as the per-frequency factors (rope_freqs.weight) that
// convert_hf_to_gguf.py computed; recover the rope_parameters that give exactly these factors.
json llama3_rope_from_factors(const File& file, const TensorInfo& info, const ModelShape& m, double theta) {
  const std::vector<float> factors = file.dequantize(info);
  ZT_REQUIRE(static_cast<int64_t>(factors.size()) * 2 == m.head_dim,
             file.path() << ": tensor 'rope_freqs.weight' has " << factors.size() << " factors; head_dim " << m.head_dim
                         << " needs " << m.head_dim / 2);
  const double factor = *std::max_element(factors.begin(), factors.end());
  const double low = 1.0, high = 4.0, old_context = 8192.0;  // convert_hf_to_gguf.py's and Llama 3.1's values
  bool matches = factor >= 1.0;
  for (size_t i = 0; matches && i < factors.size(); ++i) {
    const double freq = 1.0 / std::pow(theta, static_cast<double>(2 * i) / static_cast<double>(m.head_dim));
    const double wavelen = 2 * M_PI / freq;
    double expected = 1.0;
    if (wavelen > old_context / low) {
      expected = factor;
    } else if (wavelen >= old_context / high) {
      const double smooth = (old_context / wavelen - low) / (high - low);
      expected = 1.0 / ((1 - smooth) / factor + smooth);
    }
    matches = std::fabs(factors[i] - expected) <= 1e-4 * expected;
  }
  ZT_REQUIRE(matches, file.path() << ": tensor 'rope_freqs.weight' holds rope scaling factors that are not Llama 3's "
                                     "(low_freq_factor 1, high_freq_factor 4, original context 8192); ztune cannot "
                                     "express them as config.json rope_parameters");
  return {{"rope_type", "llama3"}, {"rope_theta", theta}, {"factor", factor}, {"low_freq_factor", low},
          {"high_freq_factor", high}, {"original_max_position_embeddings", static_cast<int64_t>(old_context)}};
}

ModelShape read_shape(const File& file) {
  ModelShape m;
  const std::optional<std::string> arch = optional_string(file, "general.architecture");
  ZT_REQUIRE(arch.has_value(), file.path() << ": metadata 'general.architecture' is missing");
  for (const Architecture& known : kArchitectures)
    if (*arch == known.gguf_name) m.arch = &known;
  ZT_REQUIRE(m.arch != nullptr, file.path() << ": general.architecture '" << *arch
                                            << "' is not supported; ztune imports the llama and qwen2 architectures");
  if (const Value* split = file.find("split.count"))
    ZT_REQUIRE(as_integer(file, "split.count", *split) <= 1,
               file.path() << ": one part of a split GGUF; join the parts first (llama-gguf-split --merge)");
  const std::string a = *arch + ".";
  m.hidden = model_integer(file, a + "embedding_length");
  m.num_layers = model_integer(file, a + "block_count");
  m.intermediate = model_integer(file, a + "feed_forward_length");
  m.num_heads = model_integer(file, a + "attention.head_count");
  m.num_kv_heads = model_integer(file, a + "attention.head_count_kv", m.num_heads);
  m.context = model_integer(file, a + "context_length");
  m.rms_eps = model_number(file, a + "attention.layer_norm_rms_epsilon");
  ZT_REQUIRE(std::isfinite(m.rms_eps) && m.rms_eps > 0,
             file.path() << ": " << a << "attention.layer_norm_rms_epsilon = " << m.rms_eps << " is not a positive number");
  constexpr int64_t kLimit = int64_t{1} << 30;  // keeps every product below int64's range
  ZT_REQUIRE(m.hidden > 0 && m.num_layers > 0 && m.intermediate > 0 && m.num_heads > 0 && m.num_kv_heads > 0 &&
                 m.num_heads % m.num_kv_heads == 0 && m.context > 0 && m.hidden < kLimit && m.num_layers < kLimit &&
                 m.intermediate < kLimit && m.num_heads < kLimit && m.context < kLimit,
             file.path() << ": the model's metadata is inconsistent (embedding_length " << m.hidden << ", block_count "
                         << m.num_layers << ", feed_forward_length " << m.intermediate << ", head_count " << m.num_heads
                         << ", head_count_kv " << m.num_kv_heads << ", context_length " << m.context << ")");
  const TensorInfo* q = file.find_tensor("blk.0.attn_q.weight");
  ZT_REQUIRE(q != nullptr && q->dims.size() == 2, file.path() << ": tensor 'blk.0.attn_q.weight' is missing or not a matrix");
  m.head_dim = model_integer(file, a + "attention.key_length", static_cast<int64_t>(q->dims[1]) / m.num_heads);
  ZT_REQUIRE(m.head_dim > 0 && m.head_dim < kLimit && m.head_dim % 2 == 0 &&
                 m.head_dim * m.num_heads == static_cast<int64_t>(q->dims[1]),
             file.path() << ": tensor 'blk.0.attn_q.weight' has " << q->dims[1] << " rows, not head_count " << m.num_heads
                         << " x head_dim " << m.head_dim);
  ZT_REQUIRE(model_integer(file, a + "attention.value_length", m.head_dim) == m.head_dim,
             file.path() << ": attention.value_length differs from attention.key_length, which " << m.arch->hf_class
                         << " cannot express");
  ZT_REQUIRE(model_integer(file, a + "rope.dimension_count", m.head_dim) == m.head_dim,
             file.path() << ": rope.dimension_count differs from head_dim " << m.head_dim << " (partial rotary), which "
                         << m.arch->hf_class << " cannot express");
  ZT_REQUIRE(m.arch->permuted_qk || m.head_dim * m.num_heads == m.hidden,
             file.path() << ": head_dim " << m.head_dim << " x head_count " << m.num_heads << " differs from embedding_length "
                         << m.hidden << ", which Qwen2's config cannot express");

  const double theta = model_number(file, a + "rope.freq_base", 10000.0);
  ZT_REQUIRE(std::isfinite(theta) && theta > 1, file.path() << ": " << a << "rope.freq_base = " << theta << " is not a rope base");
  m.rope = {{"rope_theta", theta}, {"rope_type", "default"}};
  const std::string scaling = optional_string(file, a + "rope.scaling.type").value_or("none");
  const double linear = model_number(file, a + "rope.scale_linear", 1.0);
  if (scaling == "linear" || (scaling == "none" && linear != 1.0)) {
    const double factor = scaling == "linear" ? model_number(file, a + "rope.scaling.factor") : linear;
    m.rope = {{"rope_theta", theta}, {"rope_type", "linear"}, {"factor", factor}};
  } else if (scaling == "yarn") {
    m.rope = {{"rope_theta", theta}, {"rope_type", "yarn"}, {"factor", model_number(file, a + "rope.scaling.factor")}};
    if (file.find(a + "rope.scaling.original_context_length"))
      m.rope["original_max_position_embeddings"] = model_integer(file, a + "rope.scaling.original_context_length");
  } else {
    ZT_REQUIRE(scaling == "none", file.path() << ": " << a << "rope.scaling.type '" << scaling
                                              << "' is not supported (none, linear and yarn are)");
  }
  if (const TensorInfo* freqs = file.find_tensor("rope_freqs.weight")) {
    ZT_REQUIRE(m.rope["rope_type"] == "default", file.path() << ": both rope_freqs.weight and " << a << "rope.scaling.type");
    m.rope = llama3_rope_from_factors(file, *freqs, m, theta);
  }
  return m;
}

// Every tensor of the file under its Hugging Face name, checked against the config; sorted by that name.
std::vector<Planned> plan_tensors(const File& file, ModelShape& m) {
  std::vector<Planned> planned;
  std::set<std::string> seen;
  for (const TensorInfo& info : file.tensors()) {
    if (info.name == "rope_freqs.weight") continue;  // read into the config's rope_parameters
    Planned p;
    p.info = &info;
    std::vector<int64_t> expected;
    if (info.name == "token_embd.weight") {
      p.hf_name = "model.embed_tokens.weight";
      expected = {m.vocab, m.hidden};
    } else if (info.name == "output_norm.weight") {
      p.hf_name = "model.norm.weight";
      expected = {m.hidden};
    } else if (info.name == "output.weight") {
      p.hf_name = "lm_head.weight";
      expected = {m.vocab, m.hidden};
    } else {
      const size_t dot = info.name.find('.', 4);
      int64_t layer = -1;
      std::string suffix;
      if (info.name.compare(0, 4, "blk.") == 0 && dot != std::string::npos && dot > 4 && dot - 4 <= 9 &&
          info.name.find_first_not_of("0123456789", 4) == dot) {
        layer = std::stoll(info.name.substr(4, dot - 4));
        suffix = info.name.substr(dot + 1);
      }
      const auto mapped = layer_names().find(suffix);
      ZT_REQUIRE(layer >= 0 && mapped != layer_names().end(),
                 file.path() << ": tensor '" << info.name << "' is not part of a " << m.arch->gguf_name
                             << " model as ztune knows it");
      ZT_REQUIRE(layer < m.num_layers, file.path() << ": tensor '" << info.name << "' is past block_count " << m.num_layers);
      p.hf_name = "model.layers." + std::to_string(layer) + "." + mapped->second;
      expected = expected_layer_shape(m, mapped->second);
      if (m.arch->permuted_qk && (suffix.rfind("attn_q.", 0) == 0 || suffix.rfind("attn_k.", 0) == 0))
        p.unpermute_heads = suffix.rfind("attn_q.", 0) == 0 ? m.num_heads : m.num_kv_heads;
    }
    p.shape = info.shape();
    ZT_REQUIRE(p.shape == expected, file.path() << ": tensor '" << info.name << "' has shape " << shape_text(p.shape)
                                                << "; the metadata says " << shape_text(expected));
    seen.insert(p.hf_name);
    planned.push_back(std::move(p));
  }

  m.tied = seen.count("lm_head.weight") == 0;
  // How many of num_layers x suffixes are present: none, all, or (an error) some.
  auto present = [&](std::initializer_list<const char*> suffixes) {
    int64_t count = 0;
    for (int64_t layer = 0; layer < m.num_layers; ++layer)
      for (const char* suffix : suffixes) count += seen.count("model.layers." + std::to_string(layer) + "." + suffix);
    return count == 0 ? 0 : count == m.num_layers * static_cast<int64_t>(suffixes.size()) ? 2 : 1;
  };
  auto require_all = [&](std::initializer_list<const char*> suffixes, const std::string& what) {
    for (int64_t layer = 0; layer < m.num_layers; ++layer)
      for (const char* suffix : suffixes) {
        const std::string name = "model.layers." + std::to_string(layer) + "." + suffix;
        ZT_REQUIRE(seen.count(name), file.path() << ": " << what << " of block " << layer << " is missing (" << name << ")");
      }
  };
  ZT_REQUIRE(seen.count("model.embed_tokens.weight") && seen.count("model.norm.weight"),
             file.path() << ": tensor 'token_embd.weight' or 'output_norm.weight' is missing");
  require_all({"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
               "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight", "mlp.gate_proj.weight",
               "mlp.up_proj.weight", "mlp.down_proj.weight"},
              "a weight");
  const int attention_biases = present({"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias",
                                        "self_attn.o_proj.bias"});
  const int mlp_biases = present({"mlp.gate_proj.bias", "mlp.up_proj.bias", "mlp.down_proj.bias"});
  if (std::string(m.arch->gguf_name) == "qwen2") {
    require_all({"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"}, "a q/k/v bias (Qwen2 has them)");
    ZT_REQUIRE(present({"self_attn.o_proj.bias"}) == 0 && mlp_biases == 0,
               file.path() << ": attn_output or ffn biases, which Qwen2 does not have");
  } else {
    ZT_REQUIRE(attention_biases != 1,
               file.path() << ": some attention biases are missing (Llama has q, k, v and o biases in every block or none)");
    ZT_REQUIRE(mlp_biases != 1, file.path() << ": some ffn biases are missing (Llama has gate, up and down biases or none)");
    m.attention_bias = attention_biases == 2;
    m.mlp_bias = mlp_biases == 2;
  }
  std::sort(planned.begin(), planned.end(), [](const Planned& x, const Planned& y) { return x.hf_name < y.hf_name; });
  return planned;
}

// Undoes LlamaModel.permute (convert_hf_to_gguf.py), as transformers' reverse_permute does: within each head the
// GGUF interleaves the two rotary halves, row h*D + 2i + t holding the original row h*D + t*D/2 + i.
std::vector<float> unpermute_rows(const std::vector<float>& values, int64_t rows, int64_t num_heads) {
  const int64_t cols = static_cast<int64_t>(values.size()) / rows, head_dim = rows / num_heads, half = head_dim / 2;
  std::vector<float> out(values.size());
  for (int64_t h = 0; h < num_heads; ++h)
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t i = 0; i < half; ++i)
        std::memcpy(&out[(h * head_dim + t * half + i) * cols], &values[(h * head_dim + 2 * i + t) * cols],
                    cols * sizeof(float));
  return out;
}

// As torch casts float32 to bfloat16: round to nearest even, NaN to the canonical quiet NaN.
uint16_t float_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if (std::isnan(value)) return 0x7FC0;
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

// ---- the tokenizer ----

PreTokenizer pre_tokenizer_for(const File& file, const std::string& pre) {
  std::optional<PreTokenizer> p = gguf::pre_tokenizer(pre);
  if (!p) {
    ZT_THROW(file.path() << ": tokenizer.ggml.pre '" << pre << "' is not a pre-tokenizer ztune knows (it knows the llama3, "
                            "qwen2, smollm and gpt-2 families and 'default')");
  }
  return *p;
}

struct Tokenizer {
  json tokenizer;         // tokenizer.json
  json tokenizer_config;  // tokenizer_config.json
  json special_ids = json::object();  // bos/eos/pad ids for config.json and generation_config.json
  int64_t vocab_size = 0;
};

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
Pipeline byte_level_pipeline(const File& file, const ModelShape& m, const Vocabulary& v, const SpecialIds& ids) {
  const std::string pre_name = optional_string(file, "tokenizer.ggml.pre").value_or("default");
  if (!file.find("tokenizer.ggml.pre"))
    ZT_LOG_WARN(file.path() << " names no tokenizer.ggml.pre; using llama.cpp's 'default' pre-tokenizer");
  const PreTokenizer pre = pre_tokenizer_for(file, pre_name);
  if (std::string(m.arch->model_type) == "qwen2" && !pre.qwen2_split)
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
Pipeline sentencepiece_pipeline(const File& file, const ModelShape& m, const Vocabulary& v, const SpecialIds& ids) {
  ZT_REQUIRE(std::string(m.arch->model_type) != "qwen2",
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

Tokenizer read_tokenizer(const File& file, const ModelShape& m) {
  const std::optional<std::string> model = optional_string(file, "tokenizer.ggml.model");
  ZT_REQUIRE(model.has_value(), file.path() << ": metadata 'tokenizer.ggml.model' is missing (no tokenizer in the file)");
  ZT_REQUIRE(*model == "gpt2" || *model == "llama",
             file.path() << ": tokenizer.ggml.model is '" << *model
                         << "'; ztune imports 'gpt2' (byte-level BPE) and 'llama' (SentencePiece BPE) tokenizers");
  const Vocabulary v = read_vocabulary(file);
  const std::vector<std::string>& tokens = v.tokens;
  const SpecialIds ids = read_special_ids(file, v.size());
  const Pipeline p = *model == "gpt2" ? byte_level_pipeline(file, m, v, ids) : sentencepiece_pipeline(file, m, v, ids);
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

  Tokenizer out;
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
  config["model_max_length"] = m.context;
  // transformers 5 picks Qwen2Tokenizer for every qwen2 model; for llama the file's own pipeline must be used.
  config["tokenizer_class"] = std::string(m.arch->model_type) == "qwen2" ? "Qwen2Tokenizer" : "PreTrainedTokenizerFast";
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

// ---- the folder ----

json model_config(const ModelShape& m, const Tokenizer& tokenizer, const std::string& dtype_name) {
  const bool llama = std::string(m.arch->model_type) == "llama";
  json config = {{"architectures", {m.arch->hf_class}},
                 {"model_type", m.arch->model_type},
                 {"hidden_size", m.hidden},
                 {"intermediate_size", m.intermediate},
                 {"num_hidden_layers", m.num_layers},
                 {"num_attention_heads", m.num_heads},
                 {"num_key_value_heads", m.num_kv_heads},
                 {"hidden_act", "silu"},
                 {"rms_norm_eps", m.rms_eps},
                 {"max_position_embeddings", m.context},
                 {"vocab_size", m.vocab},
                 {"tie_word_embeddings", m.tied},
                 {"rope_parameters", m.rope},
                 {"attention_dropout", 0.0},
                 {"initializer_range", 0.02},
                 {"use_cache", true},
                 {"dtype", dtype_name}};
  if (llama) {
    config["head_dim"] = m.head_dim;
    config["attention_bias"] = m.attention_bias;
    config["mlp_bias"] = m.mlp_bias;
    config["pretraining_tp"] = 1;
  } else {
    config["use_sliding_window"] = false;
    config["sliding_window"] = nullptr;
    config["max_window_layers"] = m.num_layers;
  }
  for (const char* key : {"bos_token_id", "eos_token_id", "pad_token_id"})
    config[key] = tokenizer.special_ids.value(key, json(nullptr));
  return config;
}

std::string shard_name(size_t index, size_t count) {
  if (count == 1) return "model.safetensors";
  char name[64];
  std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", index + 1, count);
  return name;
}

// Dequantises one shard's tensors at a time, so memory holds at most one shard.
uint64_t write_weights(const File& file, const std::vector<Planned>& planned, const std::string& out_dir, bool bf16,
                       uint64_t max_shard_bytes) {
  const uint64_t element_bytes = bf16 ? 2 : 4;
  std::vector<std::vector<const Planned*>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (const Planned& p : planned) {
    const uint64_t bytes = p.info->num_elements * element_bytes;
    if (!shards.back().empty() && shard_bytes + bytes > max_shard_bytes) shards.emplace_back(), shard_bytes = 0;
    shards.back().push_back(&p);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  json weight_map = json::object();
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_name(s, shards.size());
    std::vector<std::vector<uint8_t>> buffers;
    std::vector<st::TensorBytes> entries;
    buffers.reserve(shards[s].size());
    for (const Planned* p : shards[s]) {
      std::vector<float> values = file.dequantize(*p->info);
      if (p->unpermute_heads > 0) values = unpermute_rows(values, p->shape[0], p->unpermute_heads);
      std::vector<uint8_t> bytes(values.size() * element_bytes);
      if (bf16) {
        for (size_t i = 0; i < values.size(); ++i) {
          const uint16_t half = float_to_bf16(values[i]);
          std::memcpy(&bytes[2 * i], &half, 2);
        }
      } else {
        std::memcpy(bytes.data(), values.data(), bytes.size());
      }
      buffers.push_back(std::move(bytes));
      entries.push_back({p->hf_name, bf16 ? st::DType::BF16 : st::DType::F32, p->shape, buffers.back().data(),
                         buffers.back().size()});
      weight_map[p->hf_name] = name;
    }
    st::write_file((fs::path(out_dir) / name).string(), entries);
  }
  if (shards.size() > 1)
    write_json_file((fs::path(out_dir) / "model.safetensors.index.json").string(),
                    {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}});
  return shards.size();
}

}  // namespace

void gguf_to_hf(const std::string& gguf_path, const std::string& out_dir, const std::string& dtype,
                uint64_t max_shard_bytes) {
  const bool bf16 = dtype == "bfloat16" || dtype == "bf16";
  ZT_REQUIRE(bf16 || dtype.empty() || dtype == "auto" || dtype == "float32" || dtype == "fp32",
             "--torch_dtype '" << dtype << "': a GGUF import writes float32 (exact, the default) or bfloat16");
  const File file = File::open(gguf_path);
  ModelShape shape = read_shape(file);
  const Tokenizer tokenizer = read_tokenizer(file, shape);
  shape.vocab = tokenizer.vocab_size;
  const std::vector<Planned> planned = plan_tensors(file, shape);
  std::map<std::string, size_t> type_counts;
  for (const Planned& p : planned) {
    const gguf::TypeTraits* traits = gguf::type_traits(p.info->type);
    ZT_REQUIRE(traits->dequantizable, file.path() << ": tensor '" << p.info->name << "' is " << traits->name
                                                  << ", which ztune cannot dequantise (it reads "
                                                  << gguf::dequantizable_type_names() << ")");
    ++type_counts[traits->name];
  }

  fs_util::make_directories(out_dir, "--output_dir");
  for (const auto& entry : fs::directory_iterator(out_dir))  // stale shards of an earlier export would confuse loaders
    if (entry.path().extension() == ".safetensors" || entry.path().filename() == "model.safetensors.index.json")
      fs::remove(entry.path());
  const std::string dtype_name = bf16 ? "bfloat16" : "float32";
  const uint64_t num_shards = write_weights(file, planned, out_dir, bf16, max_shard_bytes);
  const fs::path out(out_dir);
  write_json_file((out / "config.json").string(), model_config(shape, tokenizer, dtype_name));
  if (!tokenizer.special_ids.empty()) write_json_file((out / "generation_config.json").string(), tokenizer.special_ids);
  write_json_file((out / "tokenizer.json").string(), tokenizer.tokenizer);
  write_json_file((out / "tokenizer_config.json").string(), tokenizer.tokenizer_config);

  std::string types;
  for (const auto& [name, count] : type_counts) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  ZT_LOG_INFO("imported " << gguf_path << " (GGUF v" << file.version() << ", " << shape.arch->gguf_name << ", "
                          << planned.size() << " tensors: " << types << ") into " << out_dir << " as " << dtype_name
                          << " (" << num_shards << (num_shards == 1 ? " file" : " shards") << ")");
}

}  // namespace zt::exporting
