// GGUF files: the reader (header, metadata, tensor table, every offset checked) and ggml block dequantisation.
// The conversion to a Hugging Face folder is in gguf_to_hf.cpp.
#include "export/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "core/check.h"
#include "core/fs.h"
#include "core/json_file.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "export/gguf_conventions.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

namespace zt::exporting {
namespace gguf {
namespace {

constexpr int kMaxDims = 4;              // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;

// ggml.h's type numbers with their block geometry (gguf-py's GGML_QUANT_SIZES); gaps are retired types.
const std::map<uint32_t, TypeTraits>& type_table() {
  static const std::map<uint32_t, TypeTraits> table = {
      {0, {"F32", 1, 4, true}},        {1, {"F16", 1, 2, true}},          {2, {"Q4_0", 32, 18, true}},
      {3, {"Q4_1", 32, 20, true}},     {6, {"Q5_0", 32, 22, true}},       {7, {"Q5_1", 32, 24, true}},
      {8, {"Q8_0", 32, 34, true}},     {9, {"Q8_1", 32, 40, false}},      {10, {"Q2_K", 256, 84, true}},
      {11, {"Q3_K", 256, 110, true}},  {12, {"Q4_K", 256, 144, true}},    {13, {"Q5_K", 256, 176, true}},
      {14, {"Q6_K", 256, 210, true}},  {15, {"Q8_K", 256, 292, false}},   {16, {"IQ2_XXS", 256, 66, false}},
      {17, {"IQ2_XS", 256, 74, false}}, {18, {"IQ3_XXS", 256, 98, false}}, {19, {"IQ1_S", 256, 50, false}},
      {20, {"IQ4_NL", 32, 18, false}}, {21, {"IQ3_S", 256, 110, false}},  {22, {"IQ2_S", 256, 82, false}},
      {23, {"IQ4_XS", 256, 136, false}}, {24, {"I8", 1, 1, false}},       {25, {"I16", 1, 2, false}},
      {26, {"I32", 1, 4, false}},      {27, {"I64", 1, 8, false}},        {28, {"F64", 1, 8, false}},
      {29, {"IQ1_M", 256, 56, false}}, {30, {"BF16", 1, 2, true}},        {34, {"TQ1_0", 256, 54, false}},
      {35, {"TQ2_0", 256, 66, false}}, {39, {"MXFP4", 32, 17, false}},    {40, {"NVFP4", 64, 36, false}},
      {41, {"Q1_0", 128, 18, false}},
  };
  return table;
}

// ---- reading the header ----

// Reads little-endian fields from the mapped file, each one checked against the bytes that remain.
class Cursor {
 public:
  Cursor(const uint8_t* data, uint64_t size, const std::string& path) : data_(data), size_(size), path_(path) {}

  uint64_t position() const { return position_; }
  uint64_t remaining() const { return size_ - position_; }

  void need(uint64_t bytes, const std::string& what) const {
    if (bytes > remaining())
      ZT_THROW(path_ << ": truncated or corrupt GGUF: " << what << " needs " << bytes << " bytes at offset " << position_
                     << ", but the file has " << remaining() << " left");
  }
  template <class T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, data_ + position_, sizeof(T));
    position_ += sizeof(T);
    return value;
  }
  std::string read_string(const std::string& what) {
    const uint64_t length = read<uint64_t>(what + " (string length)");
    need(length, what);
    std::string text(reinterpret_cast<const char*>(data_ + position_), length);
    position_ += length;
    return text;
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t position_ = 0;
  const std::string& path_;
};

// Bytes the smallest encoding of one value of `type` takes, to bound an array's count before reserving.
uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::BOOL: return 1;
    case ValueType::UINT16: case ValueType::INT16: return 2;
    case ValueType::UINT32: case ValueType::INT32: case ValueType::FLOAT32: return 4;
    case ValueType::UINT64: case ValueType::INT64: case ValueType::FLOAT64: case ValueType::STRING: return 8;
    case ValueType::ARRAY: return 12;
  }
  return 1;
}

ValueType read_value_type(Cursor& cursor, const std::string& path, const std::string& what) {
  const uint32_t raw = cursor.read<uint32_t>(what + " (type)");
  ZT_REQUIRE(raw <= static_cast<uint32_t>(ValueType::FLOAT64),
             path << ": corrupt GGUF: " << what << " has value type " << raw << " (GGUF defines 0-12)");
  return static_cast<ValueType>(raw);
}

Value read_value(Cursor& cursor, ValueType type, const std::string& path, const std::string& what, int depth) {
  Value value;
  value.type = type;
  switch (type) {
    case ValueType::UINT8: value.uint_value = cursor.read<uint8_t>(what); break;
    case ValueType::INT8: value.int_value = cursor.read<int8_t>(what); break;
    case ValueType::UINT16: value.uint_value = cursor.read<uint16_t>(what); break;
    case ValueType::INT16: value.int_value = cursor.read<int16_t>(what); break;
    case ValueType::UINT32: value.uint_value = cursor.read<uint32_t>(what); break;
    case ValueType::INT32: value.int_value = cursor.read<int32_t>(what); break;
    case ValueType::UINT64: value.uint_value = cursor.read<uint64_t>(what); break;
    case ValueType::INT64: value.int_value = cursor.read<int64_t>(what); break;
    case ValueType::FLOAT32: value.float_value = cursor.read<float>(what); break;
    case ValueType::FLOAT64: value.float_value = cursor.read<double>(what); break;
    case ValueType::BOOL: {
      const uint8_t raw = cursor.read<uint8_t>(what);
      ZT_REQUIRE(raw <= 1, path << ": corrupt GGUF: " << what << " is a bool stored as " << int(raw));
      value.uint_value = raw;
      break;
    }
    case ValueType::STRING: value.string_value = cursor.read_string(what); break;
    case ValueType::ARRAY: {
      ZT_REQUIRE(depth < kMaxArrayDepth, path << ": corrupt GGUF: " << what << " nests arrays deeper than " << kMaxArrayDepth);
      value.element_type = read_value_type(cursor, path, what + " (array element)");
      const uint64_t count = cursor.read<uint64_t>(what + " (array length)");
      ZT_REQUIRE(count <= cursor.remaining() / min_encoded_size(value.element_type),
                 path << ": truncated or corrupt GGUF: " << what << " claims " << count << " elements, more than the "
                      << cursor.remaining() << " bytes left can hold");
      value.items.reserve(count);
      for (uint64_t i = 0; i < count; ++i)
        value.items.push_back(read_value(cursor, value.element_type, path, what + "[" + std::to_string(i) + "]", depth + 1));
      break;
    }
  }
  return value;
}

// ---- dequantisation (ggml-quants.c's dequantize_row_* and gguf-py's quants.py) ----

float half_to_float(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1Fu;
  uint32_t mantissa = half & 0x3FFu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: shift until the implicit bit appears
      int shift = -1;
      do {
        ++shift;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(112 - shift) << 23 | (mantissa & 0x3FFu) << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7F800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 112) << 23 | mantissa << 13;
  }
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

float half_at(const uint8_t* bytes) {
  uint16_t half;
  std::memcpy(&half, bytes, sizeof half);
  return half_to_float(half);
}

// a * b rounded to float32 before it meets an addition: ggml's C and numpy round every product, and a compiler
// allowed to contract (GCC on FMA targets) would fuse d * q - m into one FMA and differ in the last bit.
inline float product(float a, float b) {
  volatile float rounded = a * b;
  return rounded;
}

void block_q4_0(const uint8_t* block, float* y) {
  const float d = half_at(block);
  const uint8_t* qs = block + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = d * static_cast<float>((qs[j] & 0x0F) - 8);
    y[j + 16] = d * static_cast<float>((qs[j] >> 4) - 8);
  }
}

void block_q4_1(const uint8_t* block, float* y) {
  const float d = half_at(block), m = half_at(block + 2);
  const uint8_t* qs = block + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = product(d, static_cast<float>(qs[j] & 0x0F)) + m;
    y[j + 16] = product(d, static_cast<float>(qs[j] >> 4)) + m;
  }
}

void block_q5_0(const uint8_t* block, float* y) {
  const float d = half_at(block);
  uint32_t qh;
  std::memcpy(&qh, block + 2, sizeof qh);
  const uint8_t* qs = block + 6;
  for (int j = 0; j < 16; ++j) {
    const int low = (qs[j] & 0x0F) | static_cast<int>((qh >> j) & 1u) << 4;
    const int high = (qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = d * static_cast<float>(low - 16);
    y[j + 16] = d * static_cast<float>(high - 16);
  }
}

void block_q5_1(const uint8_t* block, float* y) {
  const float d = half_at(block), m = half_at(block + 2);
  uint32_t qh;
  std::memcpy(&qh, block + 4, sizeof qh);
  const uint8_t* qs = block + 8;
  for (int j = 0; j < 16; ++j) {
    const int low = (qs[j] & 0x0F) | static_cast<int>((qh >> j) & 1u) << 4;
    const int high = (qs[j] >> 4) | static_cast<int>((qh >> (j + 16)) & 1u) << 4;
    y[j] = product(d, static_cast<float>(low)) + m;
    y[j + 16] = product(d, static_cast<float>(high)) + m;
  }
}

void block_q8_0(const uint8_t* block, float* y) {
  const float d = half_at(block);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(block[2 + j])) * d;
}

// K-quants: 256 values per super-block. Below, e is a value's index in it.
void block_q2_k(const uint8_t* block, float* y) {
  const uint8_t* scales = block;
  const uint8_t* qs = block + 16;
  const float d = half_at(block + 80), dmin = half_at(block + 82);
  for (int e = 0; e < 256; ++e) {
    const int q = (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const uint8_t scale = scales[e / 16];
    const float dl = product(d, static_cast<float>(scale & 0x0F));
    const float ml = product(dmin, static_cast<float>(scale >> 4));
    y[e] = product(dl, static_cast<float>(q)) - ml;
  }
}

void block_q3_k(const uint8_t* block, float* y) {
  const uint8_t* hmask = block;
  const uint8_t* qs = block + 32;
  const uint8_t* scales = block + 96;
  const float d = half_at(block + 108);
  float dl[16];
  for (int j = 0; j < 16; ++j) {
    const int low = (scales[j % 8] >> (4 * (j / 8))) & 0x0F;
    const int high = (scales[8 + j % 4] >> (2 * (j / 4))) & 0x03;
    dl[j] = d * static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(low | high << 4)) - 32);
  }
  for (int e = 0; e < 256; ++e) {
    const int low = (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    const int high_bit = (hmask[e % 32] >> (e / 32)) & 1;
    y[e] = dl[e / 16] * static_cast<float>(low - (high_bit ? 0 : 4));
  }
}

// Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit mins into 12 bytes.
void scale_min_k4(const uint8_t* packed, int j, int& scale, int& min) {
  if (j < 4) {
    scale = packed[j] & 63;
    min = packed[j + 4] & 63;
  } else {
    scale = (packed[j + 4] & 0x0F) | (packed[j - 4] >> 6) << 4;
    min = (packed[j + 4] >> 4) | (packed[j] >> 6) << 4;
  }
}

void block_q4_k(const uint8_t* block, float* y) {
  const float d = half_at(block), dmin = half_at(block + 2);
  const uint8_t* scales = block + 4;
  const uint8_t* qs = block + 16;
  for (int j = 0; j < 8; ++j) {
    int scale, min;
    scale_min_k4(scales, j, scale, min);
    const float d_j = product(d, static_cast<float>(scale)), m_j = product(dmin, static_cast<float>(min));
    for (int l = 0; l < 32; ++l) {
      const int q = (qs[(j / 2) * 32 + l] >> (4 * (j % 2))) & 0x0F;
      y[j * 32 + l] = product(d_j, static_cast<float>(q)) - m_j;
    }
  }
}

void block_q5_k(const uint8_t* block, float* y) {
  const float d = half_at(block), dmin = half_at(block + 2);
  const uint8_t* scales = block + 4;
  const uint8_t* qh = block + 16;
  const uint8_t* qs = block + 48;
  for (int j = 0; j < 8; ++j) {
    int scale, min;
    scale_min_k4(scales, j, scale, min);
    const float d_j = product(d, static_cast<float>(scale)), m_j = product(dmin, static_cast<float>(min));
    for (int l = 0; l < 32; ++l) {
      const int q = ((qs[(j / 2) * 32 + l] >> (4 * (j % 2))) & 0x0F) | ((qh[l] >> j) & 1) << 4;
      y[j * 32 + l] = product(d_j, static_cast<float>(q)) - m_j;
    }
  }
}

void block_q6_k(const uint8_t* block, float* y) {
  const uint8_t* ql = block;
  const uint8_t* qh = block + 128;
  const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
  const float d = half_at(block + 208);
  for (int e = 0; e < 256; ++e) {
    const int base = e % 128;
    const int low = (ql[(e / 128) * 64 + base % 64] >> (4 * (base / 64))) & 0x0F;
    const int high = (qh[(e / 128) * 32 + base % 32] >> (2 * (base / 32))) & 0x03;
    const int q = static_cast<int8_t>(static_cast<uint8_t>(low | high << 4)) - 32;
    y[e] = (d * static_cast<float>(scales[e / 16])) * static_cast<float>(q);
  }
}

}  // namespace

const char* value_type_name(ValueType type) {
  static const char* const names[] = {"uint8", "int8",  "uint16", "int16", "uint32", "int32", "float32",
                                      "bool",  "string", "array", "uint64", "int64", "float64"};
  const auto index = static_cast<uint32_t>(type);
  return index < sizeof names / sizeof names[0] ? names[index] : "unknown";
}

bool Value::is_integer() const {
  switch (type) {
    case ValueType::UINT8: case ValueType::INT8: case ValueType::UINT16: case ValueType::INT16:
    case ValueType::UINT32: case ValueType::INT32: case ValueType::UINT64: case ValueType::INT64: return true;
    default: return false;
  }
}

const TypeTraits* type_traits(uint32_t type) {
  const auto found = type_table().find(type);
  return found == type_table().end() ? nullptr : &found->second;
}

std::string dequantizable_type_names() {
  std::string names;
  for (const auto& [number, traits] : type_table())
    if (traits.dequantizable) names += (names.empty() ? "" : ", ") + std::string(traits.name);
  return names;
}

void dequantize(uint32_t type, const uint8_t* data, uint64_t num_elements, float* out) {
  const TypeTraits* traits = type_traits(type);
  ZT_CHECK(traits != nullptr && traits->dequantizable && num_elements % traits->block_size == 0,
           "dequantize: type " << type << " with " << num_elements << " elements");
  if (num_elements == 0) return;  // a tensor with a zero dimension: nothing to copy (and `out` may be null)
  const uint64_t num_blocks = num_elements / traits->block_size;
  void (*decode_block)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case kF32:
      std::memcpy(out, data, num_elements * sizeof(float));
      return;
    case kF16:
      for (uint64_t i = 0; i < num_elements; ++i) out[i] = half_at(data + 2 * i);
      return;
    case kBF16:
      for (uint64_t i = 0; i < num_elements; ++i) {
        uint16_t raw;
        std::memcpy(&raw, data + 2 * i, sizeof raw);
        const uint32_t bits = static_cast<uint32_t>(raw) << 16;
        std::memcpy(out + i, &bits, sizeof bits);
      }
      return;
    case kQ4_0: decode_block = block_q4_0; break;
    case kQ4_1: decode_block = block_q4_1; break;
    case kQ5_0: decode_block = block_q5_0; break;
    case kQ5_1: decode_block = block_q5_1; break;
    case kQ8_0: decode_block = block_q8_0; break;
    case kQ2_K: decode_block = block_q2_k; break;
    case kQ3_K: decode_block = block_q3_k; break;
    case kQ4_K: decode_block = block_q4_k; break;
    case kQ5_K: decode_block = block_q5_k; break;
    case kQ6_K: decode_block = block_q6_k; break;
    default: ZT_CHECK(false, "type table and dequantize disagree on type " << type);
  }
  for (uint64_t b = 0; b < num_blocks; ++b)
    decode_block(data + b * traits->type_size, out + b * traits->block_size);
}

std::vector<int64_t> TensorInfo::shape() const {
  return std::vector<int64_t>(dims.rbegin(), dims.rend());
}

File File::open(const std::string& path) {
  File file;
  file.map_ = MappedFile::open(path);
  Cursor cursor(file.map_.data(), file.map_.size(), path);
  const uint32_t magic = cursor.read<uint32_t>("the magic");
  ZT_REQUIRE(magic == kMagic, path << ": not a GGUF file (it does not start with 'GGUF')");
  file.version_ = cursor.read<uint32_t>("the version");
  ZT_REQUIRE(file.version_ != 1, path << ": GGUF version 1 is not supported; convert the model again with a current llama.cpp");
  ZT_REQUIRE(file.version_ == 2 || file.version_ == 3,
             path << ": GGUF version " << file.version_
                  << (file.version_ > 0xFFFF ? " (a big-endian file? ztune reads little-endian GGUF only)" : " is not supported (2 and 3 are)"));
  const uint64_t num_tensors = cursor.read<uint64_t>("the tensor count");
  const uint64_t num_keys = cursor.read<uint64_t>("the metadata count");
  ZT_REQUIRE(num_keys <= cursor.remaining() / 12 && num_tensors <= cursor.remaining() / 24,
             path << ": truncated or corrupt GGUF: " << num_keys << " metadata entries and " << num_tensors
                  << " tensors cannot fit in the " << cursor.remaining() << " bytes left");

  for (uint64_t i = 0; i < num_keys; ++i) {
    const std::string key = cursor.read_string("metadata key #" + std::to_string(i));
    const ValueType type = read_value_type(cursor, path, "metadata '" + key + "'");
    Value value = read_value(cursor, type, path, "metadata '" + key + "'", 0);
    ZT_REQUIRE(file.metadata_.emplace(key, std::move(value)).second, path << ": corrupt GGUF: metadata key '" << key << "' appears twice");
  }
  if (const Value* alignment = file.find("general.alignment")) {
    ZT_REQUIRE(alignment->is_integer() && alignment->type != ValueType::INT8 && alignment->type != ValueType::INT16 &&
                   alignment->type != ValueType::INT32 && alignment->type != ValueType::INT64,
               path << ": general.alignment is a " << value_type_name(alignment->type) << ", not an unsigned integer");
    file.alignment_ = alignment->uint_value;
    ZT_REQUIRE(file.alignment_ > 0 && (file.alignment_ & (file.alignment_ - 1)) == 0 && file.alignment_ <= (1u << 30),
               path << ": general.alignment " << file.alignment_ << " is not a power of two");
  }

  for (uint64_t i = 0; i < num_tensors; ++i) {
    TensorInfo info;
    info.name = cursor.read_string("tensor #" + std::to_string(i) + "'s name");
    const std::string what = "tensor '" + info.name + "'";
    const uint32_t num_dims = cursor.read<uint32_t>(what + " (dimension count)");
    ZT_REQUIRE(num_dims >= 1 && num_dims <= kMaxDims,
               path << ": corrupt GGUF: " << what << " has " << num_dims << " dimensions (1 to " << kMaxDims << " allowed)");
    uint64_t num_elements = 1;
    for (uint32_t d = 0; d < num_dims; ++d) {
      const uint64_t dim = cursor.read<uint64_t>(what + " (dimension)");
      ZT_REQUIRE(dim <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
                     !__builtin_mul_overflow(num_elements, dim, &num_elements) &&
                     num_elements <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                 path << ": corrupt GGUF: " << what << "'s dimensions overflow");
      info.dims.push_back(dim);
    }
    info.num_elements = num_elements;
    info.type = cursor.read<uint32_t>(what + " (type)");
    info.offset = cursor.read<uint64_t>(what + " (offset)");
    const TypeTraits* traits = type_traits(info.type);
    ZT_REQUIRE(traits != nullptr, path << ": " << what << " has GGML type " << info.type << ", which ggml does not define");
    ZT_REQUIRE(info.dims[0] % traits->block_size == 0,
               path << ": corrupt GGUF: " << what << " is " << traits->name << " but its first dimension " << info.dims[0]
                    << " is not a multiple of the block size " << traits->block_size);
    info.num_bytes = num_elements / traits->block_size * traits->type_size;
    ZT_REQUIRE(info.num_bytes / traits->type_size == num_elements / traits->block_size,
               path << ": corrupt GGUF: " << what << "'s byte size overflows");
    ZT_REQUIRE(info.offset % file.alignment_ == 0,
               path << ": corrupt GGUF: " << what << "'s offset " << info.offset << " is not a multiple of the alignment " << file.alignment_);
    ZT_REQUIRE(file.index_.emplace(info.name, file.tensors_.size()).second,
               path << ": corrupt GGUF: tensor '" << info.name << "' appears twice");
    file.tensors_.push_back(std::move(info));
  }

  const uint64_t header_end = cursor.position();
  const uint64_t padding = (file.alignment_ - header_end % file.alignment_) % file.alignment_;
  file.data_start_ = header_end + padding;
  ZT_REQUIRE(file.data_start_ <= file.map_.size() || file.tensors_.empty(),
             path << ": truncated GGUF: the tensor data would start at byte " << file.data_start_ << ", past the end ("
                  << file.map_.size() << " bytes)");
  const uint64_t data_size = file.data_start_ <= file.map_.size() ? file.map_.size() - file.data_start_ : 0;
  for (const TensorInfo& info : file.tensors_)
    ZT_REQUIRE(info.offset <= data_size && info.num_bytes <= data_size - info.offset,
               path << ": truncated or corrupt GGUF: tensor '" << info.name << "' needs " << info.num_bytes
                    << " bytes at offset " << info.offset << " of the data section, which has " << data_size << " bytes");
  return file;
}

const Value* File::find(const std::string& key) const {
  const auto found = metadata_.find(key);
  return found == metadata_.end() ? nullptr : &found->second;
}

const TensorInfo* File::find_tensor(const std::string& name) const {
  const auto found = index_.find(name);
  return found == index_.end() ? nullptr : &tensors_[found->second];
}

std::vector<float> File::dequantize(const TensorInfo& info) const {
  const TypeTraits* traits = type_traits(info.type);
  ZT_REQUIRE(traits != nullptr && traits->dequantizable,
             path() << ": tensor '" << info.name << "' is " << (traits ? traits->name : "of an unknown type")
                    << ", which ztune cannot dequantise (it reads " << dequantizable_type_names() << ")");
  std::vector<float> values(info.num_elements);
  gguf::dequantize(info.type, data(info), info.num_elements, values.data());
  return values;
}

}  // namespace gguf
}  // namespace zt::exporting
