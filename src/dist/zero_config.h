// ZeRO settings from `--deepspeed zero0|zero1|zero2|zero3|PATH.json`, read with DeepSpeed's JSON keys.
// The presets are the ones ms-swift ships (also in configs/zeroN.json); "auto" values are filled from the
// command line the way the transformers DeepSpeed integration fills them.
#pragma once

#include <cstdint>
#include <string>

namespace zt::dist {

struct ZeroConfig {
  int stage = 0;
  int64_t reduce_bucket_size = 500000000;     // elements per gradient bucket
  int64_t allgather_bucket_size = 500000000;  // elements per parameter all-gather
  bool overlap_comm = false;
  bool contiguous_gradients = true;
  int64_t stage3_prefetch_bucket_size = 50000000;
  int64_t stage3_param_persistence_threshold = 100000;  // smaller parameters stay whole on every rank
  double gradient_clipping = 0;                         // 0: no clipping
  std::string precision = "fp32";                       // fp32 | bf16 | fp16 (mixed precision with fp32 masters)
  // fp16 dynamic loss scaling ("loss_scale": 0 means dynamic).
  double static_loss_scale = 0;
  int initial_scale_power = 16;
  int loss_scale_window = 1000;
  int hysteresis = 2;
  double min_loss_scale = 1;
  std::string source;  // the preset name or file it came from
};

// What "auto" resolves to.
struct ZeroAutoValues {
  int64_t hidden_size = 0;
  double max_grad_norm = 1.0;
  std::string dtype = "fp32";  // the training dtype: fp32 | bf16 | fp16
};

// A --deepspeed value read once: a preset's compiled-in JSON or a file's text, and what names it in errors.
struct ZeroSource {
  std::string text;
  std::string origin;
};
// A zt::Error when `spec` names a file that cannot be read.
ZeroSource read_zero_source(const std::string& spec);

// `spec` is a preset name or a JSON file path. Unknown stages, offload (not supported) and malformed values
// are errors naming the key and the file.
ZeroConfig load_zero_config(const std::string& spec, const ZeroAutoValues& autos);
// The same from JSON text (`origin` names it in errors).
ZeroConfig parse_zero_config(const std::string& json_text, const std::string& origin, const ZeroAutoValues& autos);
// The preset's JSON text, as shipped in configs/.
std::string zero_preset_json(const std::string& name);

}  // namespace zt::dist
