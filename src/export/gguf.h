// GGUF in: llama.cpp's model file read (header, metadata, tensor table, every offset and size checked against
// the file) and turned into a Hugging Face model folder (config.json, safetensors, tokenizer.json,
// tokenizer_config.json, generation_config.json) for the llama and qwen2 architectures.
//
// Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md (versions 2 and 3, little-endian).
// Dequantisation follows ggml's reference C code value for value, each product rounded to float32 as the
// `gguf` Python package's numpy code does, so the two agree bit for bit.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/mapped_file.h"

namespace zt::exporting {

namespace gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12
};
const char* value_type_name(ValueType type);

// One metadata value; arrays hold their items (which may be arrays themselves).
struct Value {
  ValueType type = ValueType::UINT8;
  uint64_t uint_value = 0;   // UINT8..UINT64, BOOL
  int64_t int_value = 0;     // INT8..INT64
  double float_value = 0;    // FLOAT32 (widened exactly), FLOAT64
  std::string string_value;  // STRING
  ValueType element_type = ValueType::UINT8;  // ARRAY
  std::vector<Value> items;                   // ARRAY
  bool is_integer() const;
  bool is_number() const { return is_integer() || type == ValueType::FLOAT32 || type == ValueType::FLOAT64; }
};

// GGML tensor types (ggml.h's enum ggml_type values).
enum : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10, kQ3_K = 11,
  kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kBF16 = 30
};

struct TypeTraits {
  const char* name;
  uint32_t block_size;  // elements per block
  uint32_t type_size;   // bytes per block
  bool dequantizable;   // ztune can turn it into floats
};
// nullptr for a type number ggml does not define.
const TypeTraits* type_traits(uint32_t type);
// The types dequantize() reads, for messages: "F32, F16, BF16, Q4_0, ...".
std::string dequantizable_type_names();

// Decodes `num_elements` values (a multiple of the type's block size) of a dequantizable type.
void dequantize(uint32_t type, const uint8_t* data, uint64_t num_elements, float* out);

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order: dims[0] varies fastest, the reverse of a torch shape
  uint32_t type = kF32;
  uint64_t offset = 0;         // from the start of the data section
  uint64_t num_elements = 0;
  uint64_t num_bytes = 0;
  std::vector<int64_t> shape() const;  // torch order
};

// A memory-mapped, fully validated GGUF file. Any violation is a zt::Error naming the file (and the key or
// tensor), raised by open() before a tensor byte is read.
class File {
 public:
  static File open(const std::string& path);

  const std::string& path() const { return map_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::map<std::string, Value>& metadata() const { return metadata_; }
  const Value* find(const std::string& key) const;  // nullptr when absent
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in file order
  const TensorInfo* find_tensor(const std::string& name) const;       // nullptr when absent
  const uint8_t* data(const TensorInfo& info) const { return map_.data() + data_start_ + info.offset; }
  // The tensor's values as float32, ggml order; a type ztune cannot decode is a zt::Error naming the tensor.
  std::vector<float> dequantize(const TensorInfo& info) const;

 private:
  MappedFile map_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_start_ = 0;
  std::map<std::string, Value> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
};

}  // namespace gguf

// `ztune export --from_gguf FILE --output_dir DIR`: writes DIR as a Hugging Face model folder. `dtype` is
// "float32" (also "", "auto", "fp32": exact), or "bfloat16"/"bf16". Safetensors shards hold at most
// `max_shard_bytes` each (one file when everything fits).
void gguf_to_hf(const std::string& gguf_path, const std::string& out_dir, const std::string& dtype,
                uint64_t max_shard_bytes = 5'000'000'000);

}  // namespace zt::exporting
