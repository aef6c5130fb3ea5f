#include "export/gguf_write.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "core/text.h"
#include "export/gguf.h"
#include "export/gguf_conventions.h"
#include "export/gguf_numbers.h"
#include "export/gguf_write_vocab.h"
#include "model/family/family.h"
#include "model/weight_names.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer assumes a little-endian host"
#endif

namespace zt::exporting {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using gguf::ValueType;
using gguf_out::SpecialTokens;
using gguf_out::Vocabulary;
using gguf_out::text_of;


// ---- metadata, in the order it is added (GGUF's key-value section) ----

class Metadata {
 public:
  void add_string(const std::string& key, const std::string& value) {
    begin(key, ValueType::STRING);
    put_string(value);
  }
  void add_u32(const std::string& key, int64_t value) {
    ZT_CHECK(value >= 0 && value <= std::numeric_limits<uint32_t>::max(), key << " = " << value << " is not a uint32");
    begin(key, ValueType::UINT32);
    put(static_cast<uint32_t>(value));
  }
  void add_i32(const std::string& key, int64_t value) {
    ZT_CHECK(value >= std::numeric_limits<int32_t>::min() && value <= std::numeric_limits<int32_t>::max(),
             key << " = " << value << " is not an int32");
    begin(key, ValueType::INT32);
    put(static_cast<int32_t>(value));
  }
  void add_f32(const std::string& key, double value) {
    begin(key, ValueType::FLOAT32);
    put(static_cast<float>(value));
  }
  void add_bool(const std::string& key, bool value) {
    begin(key, ValueType::BOOL);
    put(static_cast<uint8_t>(value ? 1 : 0));
  }
  void add_strings(const std::string& key, const std::vector<std::string>& values) {
    begin_array(key, ValueType::STRING, values.size());
    for (const std::string& value : values) put_string(value);
  }
  void add_i32s(const std::string& key, const std::vector<int32_t>& values) {
    begin_array(key, ValueType::INT32, values.size());
    for (int32_t value : values) put(value);
  }
  void add_f32s(const std::string& key, const std::vector<float>& values) {
    begin_array(key, ValueType::FLOAT32, values.size());
    for (float value : values) put(value);
  }
  uint64_t count() const { return keys_.size(); }
  const std::string& bytes() const { return bytes_; }

 private:
  template <class T>
  void put(T value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  void put_string(const std::string& text) {
    put(static_cast<uint64_t>(text.size()));
    bytes_.append(text);
  }
  void begin(const std::string& key, ValueType type) {
    ZT_CHECK(keys_.insert(key).second, "GGUF metadata key " << key << " added twice");
    put_string(key);
    put(static_cast<uint32_t>(type));
  }
  void begin_array(const std::string& key, ValueType element, size_t count) {
    ZT_CHECK(count > 0, "GGUF metadata array " << key << " is empty (gguf-py refuses empty arrays)");
    begin(key, ValueType::ARRAY);
    put(static_cast<uint32_t>(element));
    put(static_cast<uint64_t>(count));
  }
  std::string bytes_;
  std::set<std::string> keys_;
};

// ---- the model: family and hyper-parameters from config.json ----

// Where a stacked expert tensor of the family's plan comes from: one file tensor per expert and part (what the hub
// and save_pretrained write), or transformers' fused layout ([n_expert, parts x rows, cols], experts.gate_up_proj).
struct ExpertPiece {
  int64_t layer = 0, expert = 0;
  std::string part;              // gate_proj, up_proj, down_proj
  std::vector<int64_t> shape;    // [rows, cols]
};
struct FusedExperts {
  int64_t layer = 0;
  std::vector<std::string> parts;  // in row order
  std::vector<int64_t> shape;      // [n_expert, parts x rows, cols]
};

struct Model {
  std::string dir, config_path;
  const model::Family* family = nullptr;
  std::set<std::string> layer_weights;  // the Hugging Face names of every unstacked layer weight the plan has
  int64_t num_experts = 0;               // > 0: a mixture of experts, every layer sparse
  std::map<std::string, ExpertPiece> expert_pieces;   // by file tensor name
  std::map<std::string, FusedExperts> fused_experts;  // by file tensor name
  json hparams;  // config.json, text_config lifted to the top as convert_hf_to_gguf.py does
  int64_t num_layers = 0, num_heads = 0, num_kv_heads = 0, vocab_size = 0;
  json rope = json::object();  // rope_parameters (or rope_scaling) with the top-level rope keys mirrored in
};

// The first of `keys` that config.json has (TextModel.find_hparam); nullptr when none.
const json* find_hparam(const Model& m, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (m.hparams.contains(key)) return &m.hparams[key];
  return nullptr;
}

int64_t hparam_integer(const Model& m, const char* key) {
  const json* value = find_hparam(m, {key});
  ZT_REQUIRE(value != nullptr && value->is_number_integer() && value->get<int64_t>() > 0,
             m.config_path << ": '" << key << "' is " << (value ? value->dump() : std::string("missing"))
                           << "; a GGUF export needs it as a positive integer");
  return value->get<int64_t>();
}

// The mixture of experts as llama.cpp's architecture runs it, checked against config.json, and where the stacked
// expert tensors come from.
void read_experts(Model& m, const model::ModelConfig& config) {
  const model::GgufSpec& spec = m.family->gguf;
  const std::string arch = "llama.cpp's " + spec.arch + " architecture";
  std::string dense_layers;
  for (int64_t layer : config.mlp_only_layers) dense_layers += (dense_layers.empty() ? "" : ", ") + std::to_string(layer);
  for (int64_t layer = 0; layer < config.num_layers; ++layer)
    ZT_REQUIRE(config.sparse_layer(layer),
               m.config_path << ": layer " << layer << " has a dense MLP (mlp_only_layers [" << dense_layers
                             << "], decoder_sparse_step " << config.decoder_sparse_step << "); " << arch
                             << " has experts in every layer, so this model cannot be written as GGUF");
  ZT_REQUIRE(config.norm_topk_prob == spec.moe_renormalizes_top_k,
             m.config_path << ": norm_topk_prob is " << (config.norm_topk_prob ? "true" : "false") << "; " << arch
                           << (spec.moe_renormalizes_top_k ? " always renormalises" : " never renormalises")
                           << " the top-k expert weights, so its file would compute another model");
  ZT_REQUIRE((config.shared_expert_intermediate_size > 0) == spec.moe_shared_expert,
             m.config_path << ": shared_expert_intermediate_size is " << config.shared_expert_intermediate_size << "; "
                           << arch << (spec.moe_shared_expert ? " needs" : " has no") << " shared expert");
  m.num_experts = config.num_experts;
  for (const model::StackedWeight& stacked : model::stacked_weights(config)) {
    const int64_t layer = model::layer_of(stacked.name), experts = stacked.shape[0];
    const size_t parts = stacked.pieces.size() / static_cast<size_t>(experts);
    FusedExperts fused{layer, {}, stacked.shape};
    for (size_t i = 0; i < stacked.pieces.size(); ++i) {
      const std::string& piece = stacked.pieces[i];
      const std::string stem = piece.substr(0, piece.rfind('.'));  // without ".weight"
      ExpertPiece where{layer, static_cast<int64_t>(i / parts), stem.substr(stem.rfind('.') + 1),
                        {stacked.shape[1] / static_cast<int64_t>(parts), stacked.shape[2]}};
      if (i < parts) fused.parts.push_back(where.part);
      m.expert_pieces[piece] = std::move(where);
    }
    m.fused_experts[stacked.name] = std::move(fused);
  }
}

Model read_model(const std::string& model_dir) {
  Model m;
  m.dir = model_dir;
  m.config_path = (fs::path(model_dir) / "config.json").string();
  ZT_REQUIRE(fs::is_regular_file(m.config_path), model_dir << ": no config.json; --model must be a Hugging Face model folder");
  m.hparams = read_json_file(m.config_path);
  ZT_REQUIRE(m.hparams.is_object(), m.config_path << ": not a JSON object");
  if (m.hparams.contains("text_config") && m.hparams["text_config"].is_object())
    m.hparams.update(m.hparams["text_config"]);
  const json* architectures = find_hparam(m, {"architectures"});
  const std::string hf_class =
      architectures && architectures->is_array() && !architectures->empty() && (*architectures)[0].is_string()
          ? (*architectures)[0].get<std::string>() : std::string();
  std::string exported;
  for (const model::Family* family : model::families()) {
    if (family->gguf.arch.empty()) continue;
    if (hf_class == family->architecture) m.family = family;
    exported += (exported.empty() ? "" : ", ") + family->architecture;
  }
  ZT_REQUIRE(m.family != nullptr,
             m.config_path << ": architectures[0] is '" << hf_class << "'; GGUF export writes " << exported << " models");
  ZT_REQUIRE(m.family->gguf.moe || !find_hparam(m, {"num_local_experts", "num_experts", "n_routed_experts"}),
             m.config_path << ": " << hf_class << " with experts (num_experts); GGUF export writes experts for "
                           << "Qwen3MoeForCausalLM and Qwen2MoeForCausalLM only");
  m.num_layers = hparam_integer(m, "num_hidden_layers");
  m.num_heads = hparam_integer(m, "num_attention_heads");
  const int64_t hidden = hparam_integer(m, "hidden_size");
  auto fill = [&](const char* key, const json& value) {
    if (!m.hparams.contains(key) || m.hparams[key].is_null()) m.hparams[key] = value;
  };
  const model::GgufSpec& gguf_spec = m.family->gguf;
  fill("num_key_value_heads", gguf_spec.default_kv_heads > 0 ? gguf_spec.default_kv_heads : m.num_heads);
  if (gguf_spec.default_head_dim >= 0)
    fill("head_dim", gguf_spec.default_head_dim > 0 ? gguf_spec.default_head_dim : hidden / m.num_heads);
  fill("max_position_embeddings", gguf_spec.default_context);
  fill("rms_norm_eps", 1e-6);
  m.num_kv_heads = hparam_integer(m, "num_key_value_heads");
  m.vocab_size = hparam_integer(m, "vocab_size");
  // The family's layer plan says which weights each layer holds (biases, q/k norms).
  model::ModelConfig shape;
  shape.architecture_name = m.family->architecture;
  shape.hidden_size = hidden;
  shape.intermediate_size = hparam_integer(m, "intermediate_size");
  shape.num_layers = m.num_layers;
  shape.num_heads = m.num_heads;
  shape.num_kv_heads = m.num_kv_heads;
  const json* head_dim = find_hparam(m, {"head_dim"});
  shape.head_dim = head_dim && head_dim->is_number_integer() ? head_dim->get<int64_t>() : hidden / m.num_heads;
  m.family->read_config(m.hparams, shape);
  if (m.family->gguf.moe) read_experts(m, shape);
  for (int64_t layer = 0; layer < m.num_layers; ++layer)
    for (const model::PlannedWeight& weight : model::layer_weights(m.family->layer(shape, layer), layer, hidden))
      if (weight.shape.size() < 3) m.layer_weights.insert(weight.name);
  hparam_integer(m, "max_position_embeddings");

  // TextModel.__init__: rope_parameters (transformers 5) or rope_scaling, with the top-level keys mirrored in.
  const json* rope = find_hparam(m, {"rope_parameters"});
  if (rope == nullptr) rope = find_hparam(m, {"rope_scaling"});
  if (rope != nullptr && rope->is_object()) m.rope = *rope;
  if (!m.rope.contains("full_attention") && !m.rope.contains("sliding_attention")) {
    const json* theta = find_hparam(m, {"global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta",
                                        "rotary_emb_base"});
    if (!m.rope.contains("rope_theta") && theta != nullptr) m.rope["rope_theta"] = *theta;
    if (!m.rope.contains("rope_type") && m.rope.contains("type") && !m.rope["type"].is_null())
      m.rope["rope_type"] = m.rope["type"];
    const json* original = find_hparam(m, {"original_max_position_embeddings"});
    if (!m.rope.contains("original_max_position_embeddings") && original != nullptr)
      m.rope["original_max_position_embeddings"] = *original;
    if (!m.rope.contains("rope_theta") || m.rope["rope_theta"].is_null()) m.rope["rope_theta"] = 10000.0;  // transformers' default
    if (!m.rope.contains("rope_type") || m.rope["rope_type"].is_null()) m.rope["rope_type"] = "default";
  }

  const std::string arch = m.family->gguf.arch;
  const json* window = find_hparam(m, {"sliding_window"});
  const json* use_window = find_hparam(m, {"use_sliding_window"});
  const bool windowed = window && window->is_number_integer() && window->get<int64_t>() <
                                                                      m.hparams["max_position_embeddings"].get<int64_t>();
  if (windowed && (use_window == nullptr || (use_window->is_boolean() && use_window->get<bool>())))
    ZT_LOG_WARN(m.config_path << ": sliding_window " << *window << " is not written; llama.cpp runs the " << arch
                              << " architecture with full attention, so texts longer than the window differ");
  return m;
}

// The rope parameters of full attention (what convert_hf_to_gguf.py reads).
const json& rope_params(const Model& m) {
  return m.rope.contains("full_attention") ? m.rope["full_attention"] : m.rope;
}

double json_number(const Model& m, const json& value, const std::string& what) {
  ZT_REQUIRE(value.is_number(), m.config_path << ": " << what << " is " << value.dump() << ", not a number");
  return value.get<double>();
}

std::string rope_type(const Model& m) {
  const json& rope = rope_params(m);
  return rope.is_object() && rope.contains("rope_type") && rope["rope_type"].is_string() ? rope["rope_type"].get<std::string>() : "";
}

// TextModel.set_gguf_parameters for the rope: scaling keys, and the base frequency.
void add_rope_metadata(const Model& m, Metadata& out) {
  const std::string a = m.family->gguf.arch + ".";
  const json& rope = rope_params(m);
  ZT_REQUIRE(rope.is_object(), m.config_path << ": rope parameters " << rope.dump() << " are not an object");
  const std::string type = rope_type(m);
  const bool has_factor = rope.contains("factor") && !rope["factor"].is_null();
  if (type == "linear" && has_factor) {
    out.add_string(a + "rope.scaling.type", "linear");
    out.add_f32(a + "rope.scaling.factor", json_number(m, rope["factor"], "rope factor"));
  } else if (type == "yarn" && has_factor) {
    out.add_string(a + "rope.scaling.type", "yarn");
    out.add_f32(a + "rope.scaling.factor", json_number(m, rope["factor"], "rope factor"));
    ZT_REQUIRE(rope.contains("original_max_position_embeddings") && rope["original_max_position_embeddings"].is_number_integer(),
               m.config_path << ": yarn rope scaling without original_max_position_embeddings");
    out.add_u32(a + "rope.scaling.original_context_length", rope["original_max_position_embeddings"].get<int64_t>());
    const std::pair<const char*, const char*> extras[] = {{"extrapolation_factor", "yarn_ext_factor"},
                                                          {"attention_factor", "yarn_attn_factor"},
                                                          {"beta_fast", "yarn_beta_fast"},
                                                          {"beta_slow", "yarn_beta_slow"}};
    for (const auto& [hf_key, gguf_key] : extras) {
      const char* key = hf_key;
      if (std::string(hf_key) == "attention_factor" && !rope.contains(key)) key = "attn_factor";
      if (rope.contains(key) && !rope[key].is_null())
        out.add_f32(a + "rope.scaling." + gguf_key, json_number(m, rope[key], std::string("rope ") + key));
    }
  } else if (type == "llama3") {
    // Written as the rope_freqs.weight tensor (LlamaModel.generate_extra_tensors); other architectures drop it.
    ZT_REQUIRE(m.family->gguf.permute_qk, m.config_path << ": rope_type llama3 on " << m.family->architecture
                                                   << ", which llama.cpp's " << m.family->gguf.arch << " cannot express");
  } else {
    ZT_REQUIRE(type.empty() || type == "default" || ((type == "linear" || type == "yarn") && !has_factor),
               m.config_path << ": rope_type '" << type << "' has no GGUF equivalent that llama.cpp's " << m.family->gguf.arch
                             << " reads (default, linear, yarn and llama3 do)");
  }
  if (rope.contains("rope_theta") && !rope["rope_theta"].is_null())
    out.add_f32(a + "rope.freq_base", json_number(m, rope["rope_theta"], "rope_theta"));
}

// ---- the tensors ----

// A run of a file tensor's elements.
struct Source {
  std::shared_ptr<const st::File> file;
  const st::TensorInfo* info = nullptr;
  uint64_t first = 0, count = 0;
};

struct Planned {
  std::string name;                 // GGUF name
  std::vector<Source> sources;      // the tensor's values in order: one file tensor, or the experts' pieces
  std::vector<float> generated;     // rope_freqs.weight, made here
  std::vector<int64_t> shape;       // torch order
  int64_t permute_heads = 0;        // > 0: LlamaModel.permute over this many heads
  uint32_t type = gguf::kF32;
  uint64_t num_elements = 0, num_bytes = 0, offset = 0;
};

// The GGUF name of a Hugging Face tensor; "" for the ones convert_hf_to_gguf.py drops.
std::string gguf_name_of(const Model& m, const std::string& hf_name, const std::string& where) {
  if (hf_name == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf_name == "model.norm.weight") return "output_norm.weight";
  if (hf_name == "lm_head.weight") return "output.weight";
  if (ends_with(hf_name, ".rotary_emb.inv_freq") || ends_with(hf_name, ".attention.masked_bias") ||
      ends_with(hf_name, ".attention.bias"))
    return "";
  static const std::map<std::string, std::string> by_hf_name = [] {
    std::map<std::string, std::string> names;
    for (const auto& [gguf_suffix, hf_suffix] : gguf::layer_names()) names[hf_suffix] = gguf_suffix;
    return names;
  }();
  const std::string prefix = "model.layers.";
  const size_t dot = hf_name.find('.', prefix.size());
  if (starts_with(hf_name, prefix) && dot != std::string::npos && dot > prefix.size() && dot - prefix.size() <= 9 &&
      hf_name.find_first_not_of("0123456789", prefix.size()) == dot) {
    const int64_t layer = std::stoll(hf_name.substr(prefix.size(), dot - prefix.size()));
    const std::string suffix = hf_name.substr(dot + 1);
    std::string gguf_suffix;
    if (const auto found = by_hf_name.find(suffix); found != by_hf_name.end() && m.layer_weights.count(hf_name))
      gguf_suffix = found->second;
    ZT_REQUIRE(layer < m.num_layers, where << ": tensor '" << hf_name << "' is past num_hidden_layers " << m.num_layers);
    if (!gguf_suffix.empty()) return "blk." + std::to_string(layer) + "." + gguf_suffix;
  }
  ZT_THROW(where << ": tensor '" << hf_name << "' has no name in llama.cpp's " << m.family->gguf.arch << " architecture ("
                 << m.family->architecture << " as ztune converts it)");
}

// ModelBase.prepare_tensors: 1-D tensors, norms, the routers and anything but a weight stay float32.
uint32_t tensor_type(const std::string& name, const std::vector<int64_t>& shape, uint32_t matrix_type) {
  if (shape.size() <= 1 || ends_with(name, "_norm.weight") || !ends_with(name, ".weight") ||
      ends_with(name, ".ffn_gate_inp.weight") || ends_with(name, ".ffn_gate_inp_shexp.weight"))
    return gguf::kF32;
  if (matrix_type == gguf::kQ8_0 && shape.back() % 32 != 0) {
    ZT_LOG_WARN(name << ": rows of " << shape.back() << " values are not a multiple of Q8_0's block of 32; written as F16");
    return gguf::kF16;
  }
  return matrix_type;
}

// LlamaModel.generate_extra_tensors: Llama 3.1's per-frequency rope scaling factors.
std::vector<float> llama3_rope_factors(const Model& m) {
  const json& rope = rope_params(m);
  auto number = [&](const char* key, double fallback) {
    return rope.contains(key) && !rope[key].is_null() ? json_number(m, rope[key], key) : fallback;
  };
  const double base = number("rope_theta", 10000.0), factor = number("factor", 8.0);
  const double low = number("low_freq_factor", 1.0), high = number("high_freq_factor", 4.0);
  const double old_context = number("original_max_position_embeddings", 8192.0);
  const json* head_dim = find_hparam(m, {"head_dim"});
  const int64_t dim = head_dim && head_dim->is_number_integer() ? head_dim->get<int64_t>()
                                                                 : hparam_integer(m, "hidden_size") / m.num_heads;
  // In float32 steps, as the torch code computes them.
  std::vector<float> factors;
  for (int64_t i = 0; i < dim; i += 2) {
    const float exponent = static_cast<float>(i) / static_cast<float>(dim);
    const float freq = 1.0f / static_cast<float>(std::pow(base, static_cast<double>(exponent)));
    const float wavelen = static_cast<float>(2 * M_PI) / freq;
    if (wavelen < static_cast<float>(old_context / high)) {
      factors.push_back(1.0f);
    } else if (wavelen > static_cast<float>(old_context / low)) {
      factors.push_back(static_cast<float>(factor));
    } else {
      const float smooth = (static_cast<float>(old_context) / wavelen - static_cast<float>(low)) / static_cast<float>(high - low);
      factors.push_back(1.0f / ((1.0f - smooth) / static_cast<float>(factor) + smooth));
    }
  }
  return factors;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

void check_weight_dtype(const st::File& file, const st::TensorInfo& info) {
  ZT_REQUIRE(info.dtype == st::DType::F32 || info.dtype == st::DType::F16 || info.dtype == st::DType::BF16,
             file.path() << ": tensor '" << info.name << "' is " << st::dtype_name(info.dtype)
                         << "; GGUF export reads F32, F16 and BF16 weights");
}

// A mixture of experts' stacked tensors (blk.N.ffn_{gate,up,down}_exps), gathered from the file tensors they are
// made of. A layer's per-expert pieces are planned when its last one is read, down, gate, up, as
// convert_hf_to_gguf.py merges them; a fused tensor (experts.gate_up_proj) is planned where it is read.
class ExpertStacks {
 public:
  explicit ExpertStacks(const Model& m) : m_(m) {}

  // Plans into `out` what `info` completes; false when it is not an expert tensor.
  bool take(const std::shared_ptr<const st::File>& file, const st::TensorInfo& info, std::vector<Planned>& out) {
    if (const auto piece = m_.expert_pieces.find(info.name); piece != m_.expert_pieces.end()) {
      const ExpertPiece& where = piece->second;
      check_weight_dtype(*file, info);
      ZT_REQUIRE(info.shape == where.shape,
                 file->path() << ": tensor '" << info.name << "' has shape " << shape_text(info.shape) << "; layer "
                              << where.layer << "'s experts need " << shape_text(where.shape)
                              << " (config.json's moe_intermediate_size and hidden_size)");
      ZT_REQUIRE(!fused_[where.layer].count(where.part),
                 file->path() << ": tensor '" << info.name << "' and layer " << where.layer
                              << "'s stacked experts both map to " << gguf_name(where.layer, where.part));
      std::vector<Source>& experts = pending_[where.layer][where.part];
      experts.resize(static_cast<size_t>(m_.num_experts));
      experts[static_cast<size_t>(where.expert)] = {file, &info, 0, count(info.shape)};
      shape_[where.layer][where.part] = where.shape;
      flush_if_whole(where.layer, out);
      return true;
    }
    const auto fused = m_.fused_experts.find(info.name);
    if (fused == m_.fused_experts.end()) return false;
    const FusedExperts& f = fused->second;
    check_weight_dtype(*file, info);
    ZT_REQUIRE(info.shape == f.shape, file->path() << ": tensor '" << info.name << "' has shape "
                                                   << shape_text(info.shape) << "; config.json makes it "
                                                   << shape_text(f.shape));
    const int64_t experts = f.shape[0], rows = f.shape[1] / static_cast<int64_t>(f.parts.size()), cols = f.shape[2];
    for (size_t j = 0; j < f.parts.size(); ++j) {
      Planned p;
      p.name = gguf_name(f.layer, f.parts[j]);
      p.shape = {experts, rows, cols};
      for (int64_t e = 0; e < experts; ++e)
        p.sources.push_back({file, &info, static_cast<uint64_t>((e * f.shape[1] + static_cast<int64_t>(j) * rows) * cols),
                             static_cast<uint64_t>(rows * cols)});
      fused_[f.layer].insert(f.parts[j]);
      planned_.insert(p.name);
      out.push_back(std::move(p));
    }
    flush_if_whole(f.layer, out);
    return true;
  }

  // Every layer's three expert tensors were planned, else a zt::Error naming a missing file tensor.
  void check_complete() const {
    for (const auto& [name, where] : m_.expert_pieces) {
      if (planned_.count(gguf_name(where.layer, where.part))) continue;
      if (read(where)) continue;  // another piece of its layer is missing
      ZT_THROW(m_.dir << ": layer " << where.layer << " has no " << name << " (nor the stacked experts of "
                      << where.part << "); GGUF " << gguf_name(where.layer, where.part) << " needs every expert");
    }
  }

 private:
  static uint64_t count(const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (int64_t dim : shape) n *= static_cast<uint64_t>(dim);
    return n;
  }
  static std::string gguf_name(int64_t layer, const std::string& part) {
    for (const auto& [hf_part, suffix] : gguf::expert_names())
      if (hf_part == part) return "blk." + std::to_string(layer) + "." + suffix;
    ZT_THROW("no GGUF expert tensor for part '" << part << "'");
  }

  bool read(const ExpertPiece& where) const {
    const auto layer = pending_.find(where.layer);
    if (layer == pending_.end()) return false;
    const auto part = layer->second.find(where.part);
    return part != layer->second.end() && part->second[static_cast<size_t>(where.expert)].info != nullptr;
  }

  // Plans the layer's per-expert tensors once every part not read fused has all its experts.
  void flush_if_whole(int64_t layer, std::vector<Planned>& out) {
    std::map<std::string, std::vector<Source>>& parts = pending_[layer];
    for (const auto& [part, suffix] : gguf::expert_names()) {
      if (fused_[layer].count(part)) continue;
      const auto found = parts.find(part);
      if (found == parts.end()) return;
      for (const Source& source : found->second)
        if (source.info == nullptr) return;
    }
    for (const auto& [part, suffix] : gguf::expert_names()) {
      const auto found = parts.find(part);
      if (found == parts.end() || planned_.count(gguf_name(layer, part))) continue;
      Planned p;
      p.name = gguf_name(layer, part);
      const std::vector<int64_t>& piece = shape_[layer][part];
      p.shape = {m_.num_experts, piece[0], piece[1]};
      p.sources = found->second;
      planned_.insert(p.name);
      out.push_back(std::move(p));
    }
  }

  const Model& m_;
  std::map<int64_t, std::map<std::string, std::vector<Source>>> pending_;  // layer -> part -> by expert
  std::map<int64_t, std::map<std::string, std::vector<int64_t>>> shape_;
  std::map<int64_t, std::set<std::string>> fused_;
  std::set<std::string> planned_;
};

// Every tensor of the folder under its GGUF name and type, in the folder's order (convert_hf_to_gguf.py's).
std::vector<Planned> plan_tensors(const Model& m, const st::Checkpoint& weights, uint32_t matrix_type) {
  std::vector<Planned> planned;
  if (m.family->gguf.permute_qk && rope_type(m) == "llama3") {
    Planned p;
    p.name = "rope_freqs.weight";
    p.generated = llama3_rope_factors(m);
    p.shape = {static_cast<int64_t>(p.generated.size())};
    planned.push_back(std::move(p));
  }
  // The files by name, as convert_hf_to_gguf.py takes them; each file's tensors in data order.
  std::vector<std::shared_ptr<const st::File>> files = weights.files();
  std::sort(files.begin(), files.end(), [](const auto& x, const auto& y) { return x->path() < y->path(); });
  std::set<std::string> seen;
  ExpertStacks experts(m);
  for (const auto& file : files)
    for (const st::TensorInfo& info : file->view().tensors()) {
      if (!weights.contains(info.name) || weights.locate(info.name).first != file) continue;  // not in the index
      const size_t before = planned.size();
      if (experts.take(file, info, planned)) {
        for (size_t i = before; i < planned.size(); ++i)
          ZT_REQUIRE(seen.insert(planned[i].name).second, file->path() << ": two tensors map to " << planned[i].name);
        continue;
      }
      Planned p;
      p.name = gguf_name_of(m, info.name, file->path());
      if (p.name.empty()) continue;
      check_weight_dtype(*file, info);
      p.sources.push_back({file, &info, 0, 0});
      p.shape = info.shape;
      const std::string block_suffix = starts_with(p.name, "blk.") ? p.name.substr(p.name.find('.', 4) + 1) : "";
      const bool q = starts_with(block_suffix, "attn_q."), k = starts_with(block_suffix, "attn_k.");
      if (m.family->gguf.permute_qk && (q || k)) {
        p.permute_heads = q ? m.num_heads : m.num_kv_heads;
        ZT_REQUIRE(!p.shape.empty() && p.shape[0] % (2 * p.permute_heads) == 0,
                   file->path() << ": tensor '" << info.name << "' has shape " << shape_text(p.shape) << ", not "
                                << p.permute_heads << " heads of an even size");
      }
      ZT_REQUIRE(seen.insert(p.name).second, file->path() << ": two tensors map to " << p.name);
      planned.push_back(std::move(p));
    }

  // What llama.cpp needs of every block, so a partial folder fails here, not when llama.cpp loads the file.
  ZT_REQUIRE(seen.count("token_embd.weight") && seen.count("output_norm.weight"),
             m.dir << ": model.embed_tokens.weight or model.norm.weight is missing");
  ZT_REQUIRE(seen.count("output.weight") || !m.family->gguf.output_required,
             m.dir << ": no lm_head.weight (tie_word_embeddings); llama.cpp's " << m.family->gguf.arch
                   << " architecture needs the output matrix in the file");
  experts.check_complete();
  for (const std::string& hf_name : m.layer_weights) {
    const std::string name = gguf_name_of(m, hf_name, m.dir);
    ZT_REQUIRE(seen.count(name), m.dir << ": layer " << model::layer_of(hf_name) << " has no " << hf_name << " (GGUF "
                                       << name << ")");
  }
  for (const Planned& p : planned)
    if (p.name == "token_embd.weight" || p.name == "output.weight")
      ZT_REQUIRE(p.shape.size() == 2 && p.shape[0] == m.vocab_size,
                 m.dir << ": " << p.name << " has shape " << shape_text(p.shape) << "; config.json's vocab_size is "
                       << m.vocab_size << " (llama.cpp needs one row per token)");

  uint64_t offset = 0;
  for (Planned& p : planned) {
    p.num_elements = 1;
    for (int64_t dim : p.shape) p.num_elements *= static_cast<uint64_t>(dim);
    if (p.sources.size() == 1 && p.sources[0].count == 0) p.sources[0].count = p.num_elements;
    p.type = tensor_type(p.name, p.shape, matrix_type);
    const gguf::TypeTraits* traits = gguf::type_traits(p.type);
    p.num_bytes = p.num_elements / traits->block_size * traits->type_size;
    p.offset = offset;
    offset += (p.num_bytes + gguf::kDefaultAlignment - 1) / gguf::kDefaultAlignment * gguf::kDefaultAlignment;
  }
  return planned;
}

// LlamaModel.permute: within each head the two rotary halves interleaved, row h*D + 2i + t taking the original row
// h*D + t*D/2 + i, so ggml's rope over adjacent pairs equals transformers' rotate_half.
std::vector<float> permute_rows(const std::vector<float>& values, int64_t rows, int64_t num_heads) {
  const int64_t cols = static_cast<int64_t>(values.size()) / rows, head_dim = rows / num_heads, half = head_dim / 2;
  std::vector<float> out(values.size());
  for (int64_t h = 0; h < num_heads; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t t = 0; t < 2; ++t)
        std::memcpy(&out[(h * head_dim + 2 * i + t) * cols], &values[(h * head_dim + t * half + i) * cols],
                    cols * sizeof(float));
  return out;
}

// One tensor's bytes in the file: read as float32 (exactly), permuted, then rounded to its type.
std::vector<uint8_t> encode_tensor(const Planned& p) {
  std::vector<float> values = p.generated;
  if (!p.sources.empty()) {
    values.resize(p.num_elements);
    float* out = values.data();
    for (const Source& source : p.sources) {
      const st::DType dtype = source.info->dtype;
      const uint8_t* data = source.file->view().data(*source.info) + source.first * st::dtype_size(dtype);
      if (dtype == st::DType::F32) std::memcpy(out, data, source.count * sizeof(float));
      else gguf::dequantize(dtype == st::DType::F16 ? gguf::kF16 : gguf::kBF16, data, source.count, out);
      out += source.count;
    }
  }
  if (p.permute_heads > 0) values = permute_rows(values, p.shape[0], p.permute_heads);
  std::vector<uint8_t> bytes(p.num_bytes);
  switch (p.type) {
    case gguf::kF32:
      std::memcpy(bytes.data(), values.data(), bytes.size());
      break;
    case gguf::kF16:
    case gguf::kBF16:
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t half = p.type == gguf::kF16 ? gguf::float_to_half(values[i]) : gguf::float_to_bf16(values[i]);
        std::memcpy(&bytes[2 * i], &half, 2);
      }
      break;
    case gguf::kQ8_0:
      gguf::quantize_q8_0(values.data(), values.size(), bytes.data());
      break;
    default:
      ZT_CHECK(false, "GGUF export cannot encode type " << p.type);
  }
  return bytes;
}

// ---- general.* (gguf-py's Metadata: name, size label, sampling defaults) ----

// ^(v\d+(?:\.\d+)*|\d.*)$
bool is_version_word(const std::string& word) {
  auto digit = [&](size_t i) { return i < word.size() && std::isdigit(static_cast<unsigned char>(word[i])); };
  if (digit(0)) return true;
  if (word[0] != 'v' || !digit(1)) return false;
  for (size_t i = 1; i < word.size(); ++i)
    if (!digit(i) && !(word[i] == '.' && digit(i - 1) && digit(i + 1))) return false;
  return true;
}

// Metadata.id_to_title: words of lower-case letters title-cased, unless a version ("v1.2") or starting with a digit.
std::string id_to_title(const std::string& id) {
  std::string spaced = id;
  std::replace(spaced.begin(), spaced.end(), '-', ' ');
  std::istringstream words(spaced);
  std::string word, out;
  while (words >> word) {
    bool has_cased = false, all_lower = true;
    for (unsigned char c : word) {
      if (std::isalpha(c)) has_cased = true;
      if (std::isupper(c)) all_lower = false;
    }
    if (has_cased && all_lower && !is_version_word(word)) {
      bool previous_cased = false;  // str.title(): upper after a non-letter, lower after a letter
      for (char& c : word) {
        const bool cased = std::isalpha(static_cast<unsigned char>(c));
        if (cased) c = previous_cased ? static_cast<char>(std::tolower(c)) : static_cast<char>(std::toupper(c));
        previous_cased = cased;
      }
    }
    out += (out.empty() ? "" : " ") + word;
  }
  return out;
}

// utility.model_weight_count_rounded_notation with two digits ("1.3M", "494M", "7.6B").
std::string size_label(uint64_t num_params) {
  const double count = static_cast<double>(num_params);
  double scaled;
  const char* suffix;
  if (count > 1e12) scaled = count * 1e-12, suffix = "T";
  else if (count > 1e9) scaled = count * 1e-9, suffix = "B";
  else if (count > 1e6) scaled = count * 1e-6, suffix = "M";
  else scaled = count * 1e-3, suffix = "K";
  std::string digits = std::to_string(static_cast<long long>(std::nearbyint(scaled)));
  digits.erase(0, digits.find_first_not_of('0'));
  const int decimals = std::max(2 - static_cast<int>(digits.size()), 0);
  char text[64];
  std::snprintf(text, sizeof text, "%.*f%s", decimals, scaled, suffix);
  return text;
}

// The model name as Metadata.load finds it without a model card: config.json's _name_or_path when it is a hub id,
// else the folder's name; the part after "org/", title-cased.
std::string model_name(const Model& m) {
  std::string id = fs::absolute(fs::path(m.dir)).lexically_normal().filename().string();
  if (id.empty()) id = fs::absolute(fs::path(m.dir)).lexically_normal().parent_path().filename().string();
  const json* name_or_path = find_hparam(m, {"_name_or_path"});
  if (name_or_path && name_or_path->is_string() && !name_or_path->get<std::string>().empty()) {
    const std::string hub_id = name_or_path->get<std::string>();
    if (std::count(hub_id.begin(), hub_id.end(), '/') <= 1) id = hub_id;
  }
  if (id.find(' ') == std::string::npos && id.find('/') != std::string::npos) id = id.substr(id.find('/') + 1);
  return id_to_title(id);
}

// general.size_label as GGUFWriter.get_total_parameter_count and gguf.size_label make it: the parameter count, or
// for a mixture of experts "<experts>x<the parameters one token meets with one expert per layer>".
std::string size_label(const Model& m, const std::vector<Planned>& tensors) {
  uint64_t total = 0, expert = 0;
  for (const Planned& p : tensors) {
    total += p.num_elements;
    if (p.name.find("_exps.") != std::string::npos && p.shape.size() >= 3)
      expert += p.num_elements / static_cast<uint64_t>(p.shape[0]), total -= p.num_elements;
  }
  if (m.num_experts == 0) return size_label(total);
  return std::to_string(m.num_experts) + "x" + size_label(total + expert);
}

void add_general_metadata(const Model& m, const std::string& size_label, Metadata& out) {
  out.add_string("general.architecture", m.family->gguf.arch);
  out.add_string("general.type", "model");
  const json generation = read_json_file_or_empty((fs::path(m.dir) / "generation_config.json").string());
  struct Sampling {
    const char* key;
    const char* hf_key;
    const char* other_hf_key;  // read when hf_key is absent
    char kind;                 // 's' string, 'i' int32, 'f' float32
  };
  const Sampling sampling[] = {
      {"sequence", "sequence", "", 's'}, {"top_k", "top_k", "", 'i'}, {"top_p", "top_p", "", 'f'},
      {"min_p", "min_p", "", 'f'}, {"xtc_probability", "xtc_probability", "", 'f'},
      {"xtc_threshold", "xtc_threshold", "", 'f'}, {"temp", "temperature", "", 'f'},
      {"penalty_last_n", "penalty_last_n", "", 'i'}, {"penalty_repeat", "penalty_repeat", "repetition_penalty", 'f'},
      {"mirostat", "mirostat", "", 'i'}, {"mirostat_tau", "mirostat_tau", "", 'f'}, {"mirostat_eta", "mirostat_eta", "", 'f'}};
  for (const Sampling& s : sampling) {
    if (!generation.is_object()) break;
    const json value = generation.contains(s.hf_key) ? generation[s.hf_key] : generation.value(s.other_hf_key, json());
    if (value.is_null()) continue;
    const std::string key = std::string("general.sampling.") + s.key;
    const bool fits = s.kind == 's' ? value.is_string() : s.kind == 'i' ? value.is_number_integer() : value.is_number();
    if (!fits) {
      ZT_LOG_WARN(m.dir << "/generation_config.json: " << s.hf_key << " = " << value.dump() << " not written to " << key);
      continue;
    }
    if (s.kind == 's') out.add_string(key, value.get<std::string>());
    else if (s.kind == 'i') out.add_i32(key, value.get<int64_t>());
    else out.add_f32(key, value.get<double>());
  }
  out.add_string("general.name", model_name(m));
  out.add_string("general.size_label", size_label);
}

// ---- writing ----

void write_padding(std::FILE* handle, uint64_t written, const std::string& path) {
  static const char zeros[gguf::kDefaultAlignment] = {};
  fs_util::write_bytes(handle, zeros, (gguf::kDefaultAlignment - written % gguf::kDefaultAlignment) % gguf::kDefaultAlignment, path);
}

void write_file(const std::string& out_path, const Metadata& metadata, const std::vector<Planned>& tensors) {
  std::string header;
  auto put = [&](const auto& value) { header.append(reinterpret_cast<const char*>(&value), sizeof value); };
  put(gguf::kMagic);
  put(gguf::kVersion);
  put(static_cast<uint64_t>(tensors.size()));
  put(metadata.count());
  header += metadata.bytes();
  for (const Planned& p : tensors) {
    put(static_cast<uint64_t>(p.name.size()));
    header += p.name;
    put(static_cast<uint32_t>(p.shape.size()));
    for (auto dim = p.shape.rbegin(); dim != p.shape.rend(); ++dim) put(static_cast<uint64_t>(*dim));
    put(p.type);
    put(p.offset);
  }

  fs_util::write_stream_atomically(out_path, [&](std::FILE* handle, const std::string& temporary) {
    fs_util::write_bytes(handle, header.data(), header.size(), temporary);
    write_padding(handle, header.size(), temporary);
    for (const Planned& p : tensors) {
      const std::vector<uint8_t> bytes = encode_tensor(p);
      fs_util::write_bytes(handle, bytes.data(), bytes.size(), temporary);
      write_padding(handle, bytes.size(), temporary);
    }
  });
}

// What a folder holds besides its weights, read and checked.
struct Folder {
  Model model;
  json tokenizer_config;
  Vocabulary vocab;
  SpecialTokens special;
};

Folder read_folder(const std::string& model_dir) {
  Folder folder;
  folder.model = read_model(model_dir);
  const fs::path dir(model_dir);
  const std::string tokenizer_path = (dir / "tokenizer.json").string();
  json tokenizer = json::object();  // SpecialVocab reads tokenizer.json when there is one, tokenizer.model or not
  if (fs::is_regular_file(tokenizer_path)) {
    tokenizer = read_json_file(tokenizer_path);
    ZT_REQUIRE(tokenizer.is_object() && !tokenizer.empty(), tokenizer_path << ": not a tokenizer (an empty or non-object JSON)");
  }
  folder.tokenizer_config = read_json_file_or_empty((dir / "tokenizer_config.json").string());
  folder.vocab = gguf_out::read_folder_vocabulary(model_dir, folder.model.family->gguf.permute_qk, folder.model.vocab_size,
                                                  tokenizer, folder.tokenizer_config);
  // The SentencePiece paths give SpecialVocab n_vocab, so it drops ids past the tokens; _set_vocab_gpt2 does not.
  const int64_t num_tokens = folder.vocab.model == "gpt2" ? -1 : static_cast<int64_t>(folder.vocab.tokens.size());
  folder.special = gguf_out::read_special_tokens(model_dir, tokenizer, folder.tokenizer_config, num_tokens, folder.vocab.path);
  if (folder.model.family->gguf.permute_qk && folder.model.vocab_size == 49152) {
    // LlamaModel.set_vocab: "granite small models" (SmolLM's vocabulary size) never add BOS.
    auto add_bos = std::find_if(folder.special.add.begin(), folder.special.add.end(),
                                [](const auto& flag) { return flag.first == "bos"; });
    if (add_bos != folder.special.add.end()) add_bos->second = false;
    else folder.special.add.emplace_back("bos", false);
  }
  return folder;
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

bool is_gguf_out_type(const std::string& type) {
  const std::string t = lower(type);
  return t == "f16" || t == "bf16" || t == "q8_0";
}

std::string gguf_file_name(const std::string& model_dir, const std::string& type) {
  fs::path dir = fs::absolute(fs::path(model_dir)).lexically_normal();
  std::string name = dir.filename().string();
  if (name.empty()) name = dir.parent_path().filename().string();
  if (name.empty()) name = "model";
  std::string upper = type;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name + "-" + upper + ".gguf";
}

void check_hf_to_gguf(const std::string& model_dir) { read_folder(model_dir); }

void hf_to_gguf(const std::string& model_dir, const std::string& out_path, const std::string& type) {
  ZT_REQUIRE(is_gguf_out_type(type), "--to_gguf '" << type << "': GGUF export writes f16, bf16 or q8_0");
  const std::string t = lower(type);
  const uint32_t matrix_type = t == "f16" ? gguf::kF16 : t == "bf16" ? gguf::kBF16 : gguf::kQ8_0;
  const int64_t file_type = t == "f16" ? 1 : t == "bf16" ? 32 : 7;  // gguf-py's LlamaFileType

  // Everything is read and checked before the file is opened.
  const Folder folder = read_folder(model_dir);
  const Model& m = folder.model;
  const Vocabulary& vocab = folder.vocab;
  const SpecialTokens& special = folder.special;
  const json& tokenizer_config = folder.tokenizer_config;
  const st::Checkpoint weights = st::Checkpoint::open(model_dir);
  const std::vector<Planned> tensors = plan_tensors(m, weights, matrix_type);

  // The metadata in convert_hf_to_gguf.py's order: general.*, the hyper-parameters, the tokenizer.
  Metadata meta;
  add_general_metadata(m, size_label(m, tensors), meta);
  const std::string a = m.family->gguf.arch + ".";
  meta.add_u32(a + "block_count", m.num_layers);
  meta.add_u32(a + "context_length", hparam_integer(m, "max_position_embeddings"));
  meta.add_u32(a + "embedding_length", hparam_integer(m, "hidden_size"));
  meta.add_u32(a + "feed_forward_length", hparam_integer(m, "intermediate_size"));
  meta.add_u32(a + "attention.head_count", m.num_heads);
  meta.add_u32(a + "attention.head_count_kv", m.num_kv_heads);
  add_rope_metadata(m, meta);
  if (const json* eps = find_hparam(m, {"rms_norm_eps", "norm_eps"}))
    meta.add_f32(a + "attention.layer_norm_rms_epsilon", json_number(m, *eps, "rms_norm_eps"));
  if (const json* eps = find_hparam(m, {"layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"}))
    meta.add_f32(a + "attention.layer_norm_epsilon", json_number(m, *eps, "layer_norm_eps"));
  if (m.num_experts > 0) {
    meta.add_u32(a + "expert_count", m.num_experts);
    if (find_hparam(m, {"num_experts_per_tok"})) meta.add_u32(a + "expert_used_count", hparam_integer(m, "num_experts_per_tok"));
  }
  const json* head_dim = find_hparam(m, {"head_dim"});
  if (head_dim && !head_dim->is_null()) {
    ZT_REQUIRE(head_dim->is_number_integer() && head_dim->get<int64_t>() > 0, m.config_path << ": head_dim is " << head_dim->dump());
    meta.add_u32(a + "attention.key_length", head_dim->get<int64_t>());
    meta.add_u32(a + "attention.value_length", head_dim->get<int64_t>());
  }
  meta.add_u32("general.file_type", file_type);
  if (m.num_experts > 0) {  // Qwen2MoeModel.set_gguf_parameters
    if (find_hparam(m, {"moe_intermediate_size"}))
      meta.add_u32(a + "expert_feed_forward_length", hparam_integer(m, "moe_intermediate_size"));
    if (find_hparam(m, {"shared_expert_intermediate_size"}))
      meta.add_u32(a + "expert_shared_feed_forward_length", hparam_integer(m, "shared_expert_intermediate_size"));
  }
  if (m.family->gguf.permute_qk) {  // LlamaModel.set_gguf_parameters
    meta.add_u32(a + "vocab_size", m.vocab_size);
    meta.add_u32(a + "rope.dimension_count", head_dim && !head_dim->is_null() ? head_dim->get<int64_t>()
                                                                              : hparam_integer(m, "hidden_size") / m.num_heads);
  }
  meta.add_u32("general.quantization_version", 2);  // GGML_QUANT_VERSION

  if (m.family->gguf.permute_qk && tokenizer_config.contains("add_prefix_space") && tokenizer_config["add_prefix_space"].is_boolean())
    meta.add_bool("tokenizer.ggml.add_space_prefix", tokenizer_config["add_prefix_space"].get<bool>());  // LlamaModel.set_vocab
  meta.add_string("tokenizer.ggml.model", vocab.model);
  meta.add_string("tokenizer.ggml.pre", vocab.pre);
  meta.add_strings("tokenizer.ggml.tokens", vocab.tokens);
  if (vocab.model == "llama") meta.add_f32s("tokenizer.ggml.scores", vocab.scores);
  meta.add_i32s("tokenizer.ggml.token_type", vocab.types);
  if (!vocab.merges.empty()) meta.add_strings("tokenizer.ggml.merges", vocab.merges);
  else if (vocab.model == "gpt2") ZT_LOG_WARN(vocab.path << ": no merges; llama.cpp will tokenize byte by byte");
  static const std::map<std::string, std::string> id_keys = {
      {"bos", "bos_token_id"}, {"eos", "eos_token_id"}, {"unk", "unknown_token_id"}, {"sep", "seperator_token_id"},
      {"pad", "padding_token_id"}, {"mask", "mask_token_id"}, {"eot", "eot_token_id"}, {"eom", "eom_token_id"}};
  for (const auto& [name, id] : special.ids)
    if (const auto key = id_keys.find(name); key != id_keys.end()) meta.add_u32("tokenizer.ggml." + key->second, id);
  for (const auto& [name, value] : special.add)
    if (name == "bos" || name == "eos" || name == "sep") meta.add_bool("tokenizer.ggml.add_" + name + "_token", value);
  if (special.chat_template.is_string()) {
    meta.add_string("tokenizer.chat_template", special.chat_template.get<std::string>());
  } else if (special.chat_template.is_array()) {  // GGUFWriter.add_chat_template
    std::vector<std::string> names;
    std::optional<std::string> default_template;
    for (const json& choice : special.chat_template) {
      std::string name = choice.is_object() ? text_of(choice.value("name", json())) : "";
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      if (name.empty() || !choice.contains("template") || !choice["template"].is_string()) continue;
      if (name == "default") {
        default_template = choice["template"].get<std::string>();
      } else if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
        meta.add_string("tokenizer.chat_template." + name, choice["template"].get<std::string>());
      }
    }
    if (!names.empty()) meta.add_strings("tokenizer.chat_templates", names);
    if (default_template) meta.add_string("tokenizer.chat_template", *default_template);
  }

  fs_util::make_directories(fs::path(out_path).parent_path().empty() ? "." : fs::path(out_path).parent_path().string(),
                            "--output_dir");
  write_file(out_path, meta, tensors);

  std::map<std::string, size_t> counts;
  for (const Planned& p : tensors) ++counts[gguf::type_traits(p.type)->name];
  std::string types;
  for (const auto& [name, count] : counts) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  ZT_LOG_INFO("wrote " << out_path << " (GGUF v3, " << m.family->gguf.arch << ", " << tensors.size() << " tensors: " << types
                       << "; " << vocab.tokens.size() << " tokens from " << fs::path(vocab.path).filename().string()
                       << ", tokenizer " << vocab.model << ", pre-tokenizer " << vocab.pre << ") from " << model_dir);
}

}  // namespace zt::exporting
