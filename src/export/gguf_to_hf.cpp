// A GGUF file (llama, qwen2) written as a Hugging Face model folder: config.json from the metadata, the tensors
// dequantised (the llama q/k permutation undone), tokenizer.json and tokenizer_config.json rebuilt
// (gguf_vocab_to_hf.cpp).
#include "export/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/check.h"
#include "core/progress.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "export/gguf_conventions.h"
#include "model/family/family.h"
#include "model/weight_names.h"
#include "export/gguf_metadata.h"
#include "export/gguf_vocab_to_hf.h"

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

using namespace gguf_meta;

// ---- the model: its shape from the metadata, its tensors under Hugging Face names ----

struct ModelShape {
  const model::Family* family = nullptr;  // the family a GGUF of its architecture converts back to
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

// The model's config as the family reads it, with the biases the file has (`json` holds Llama's attention_bias
// and mlp_bias), for the family's layer plan.
model::ModelConfig planned_config(const ModelShape& m, const json& biases) {
  model::ModelConfig config;
  config.architecture_name = m.family->architecture;
  config.hidden_size = m.hidden;
  config.intermediate_size = m.intermediate;
  config.num_layers = m.num_layers;
  config.num_heads = m.num_heads;
  config.num_kv_heads = m.num_kv_heads;
  config.head_dim = m.head_dim;
  m.family->read_config(biases, config);
  return config;
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
  std::string imported;
  for (const model::Family* family : model::families()) {
    if (!family->gguf.reads_back) continue;
    if (*arch == family->gguf.arch) m.family = family;
    imported += (imported.empty() ? "" : " and ") + family->gguf.arch;
  }
  ZT_REQUIRE(m.family != nullptr, file.path() << ": general.architecture '" << *arch
                                              << "' is not supported; ztune imports the " << imported << " architectures");
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
             file.path() << ": attention.value_length differs from attention.key_length, which " << m.family->architecture
                         << " cannot express");
  ZT_REQUIRE(model_integer(file, a + "rope.dimension_count", m.head_dim) == m.head_dim,
             file.path() << ": rope.dimension_count differs from head_dim " << m.head_dim << " (partial rotary), which "
                         << m.family->architecture << " cannot express");
  ZT_REQUIRE(m.family->gguf.permute_qk || m.head_dim * m.num_heads == m.hidden,
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
                 file.path() << ": tensor '" << info.name << "' is not part of a " << m.family->gguf.arch
                             << " model as ztune knows it");
      ZT_REQUIRE(layer < m.num_layers, file.path() << ": tensor '" << info.name << "' is past block_count " << m.num_layers);
      p.hf_name = model::layer_prefix(layer) + mapped->second;
      if (m.family->gguf.permute_qk && (suffix.rfind("attn_q.", 0) == 0 || suffix.rfind("attn_k.", 0) == 0))
        p.unpermute_heads = suffix.rfind("attn_q.", 0) == 0 ? m.num_heads : m.num_kv_heads;
    }
    p.shape = info.shape();
    if (!expected.empty())
      ZT_REQUIRE(p.shape == expected, file.path() << ": tensor '" << info.name << "' has shape " << shape_text(p.shape)
                                                << "; the metadata says " << shape_text(expected));
    seen.insert(p.hf_name);
    planned.push_back(std::move(p));
  }

  m.tied = seen.count("lm_head.weight") == 0;
  ZT_REQUIRE(seen.count("model.embed_tokens.weight") && seen.count("model.norm.weight"),
             file.path() << ": tensor 'token_embd.weight' or 'output_norm.weight' is missing");
  // Which biases the file has, per block (the family's plan without biases names the linears): none, all, or
  // (an error) some.
  const model::ModelConfig unbiased = planned_config(m, json::object());
  std::vector<int64_t> biases(model::LayerSpec::kBlocks, 0), linears(model::LayerSpec::kBlocks, 0);
  for (int64_t layer = 0; layer < m.num_layers; ++layer)
    for (const model::PlannedWeight& weight : model::layer_weights(m.family->layer(unbiased, layer), layer, m.hidden)) {
      if (weight.shape.size() != 2) continue;
      ++linears[weight.block];
      biases[weight.block] += seen.count(weight.name.substr(0, weight.name.size() - 6) + "bias") > 0;
    }
  const char* block_names[] = {"attention", "feed-forward"};
  for (size_t b = 0; b < model::LayerSpec::kBlocks; ++b)
    ZT_REQUIRE(biases[b] == 0 || biases[b] == linears[b] || m.family->model_type != "llama",
               file.path() << ": some " << block_names[b] << " biases are missing (Llama has them on every projection "
                                                              "of the block in every layer, or on none)");
  m.attention_bias = biases[0] > 0 && biases[0] == linears[0];
  m.mlp_bias = biases[1] > 0 && biases[1] == linears[1];
  // The family's layer plan with those biases: every tensor of a layer must be in it, with its shape, and every
  // weight in it must be in the file.
  const model::ModelConfig config = planned_config(m, {{"attention_bias", m.attention_bias}, {"mlp_bias", m.mlp_bias}});
  std::map<std::string, std::vector<int64_t>> expected;
  for (int64_t layer = 0; layer < m.num_layers; ++layer)
    for (const model::PlannedWeight& weight : model::layer_weights(m.family->layer(config, layer), layer, m.hidden))
      expected.emplace(weight.name, weight.shape);
  for (const Planned& p : planned) {
    if (model::layer_of(p.hf_name) < 0) continue;
    const auto found = expected.find(p.hf_name);
    ZT_REQUIRE(found != expected.end(), file.path() << ": tensor '" << p.info->name << "' is not part of a "
                                                    << m.family->gguf.arch << " model as ztune knows it ("
                                                    << m.family->architecture << " has no " << p.hf_name << ")");
    ZT_REQUIRE(p.shape == found->second, file.path() << ": tensor '" << p.info->name << "' has shape "
                                                     << shape_text(p.shape) << "; the metadata says "
                                                     << shape_text(found->second));
  }
  for (const auto& [name, shape] : expected)
    ZT_REQUIRE(seen.count(name), file.path() << ": a weight of block " << model::layer_of(name) << " is missing (" << name
                                             << ")");
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

// ---- the folder ----

json model_config(const ModelShape& m, const HfTokenizerFiles& tokenizer, const std::string& dtype_name) {
  const bool llama = m.family->model_type == "llama";
  json config = {{"architectures", {m.family->architecture}},
                 {"model_type", m.family->model_type},
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
  Progress progress("importing " + fs::path(file.path()).filename().string(), total_bytes);
  uint64_t done = 0;
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
      progress.update(done += buffers.back().size());
    }
    st::write_file((fs::path(out_dir) / name).string(), entries);
  }
  progress.finish();
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
  const HfTokenizerFiles tokenizer = gguf_tokenizer_to_hf(file, shape.family->model_type, shape.context);
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
  ZT_LOG_INFO("imported " << gguf_path << " (GGUF v" << file.version() << ", " << shape.family->gguf.arch << ", "
                          << planned.size() << " tensors: " << types << ") into " << out_dir << " as " << dtype_name
                          << " (" << num_shards << (num_shards == 1 ? " file" : " shards") << ")");
}

}  // namespace zt::exporting
