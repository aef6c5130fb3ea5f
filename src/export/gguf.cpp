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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

namespace zt::exporting {
namespace gguf {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
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

// ---- GGUF -> Hugging Face folder ----

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using gguf::File;
using gguf::TensorInfo;
using gguf::Value;
using gguf::ValueType;

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

// GGUF names (llama.cpp's gguf-py tensor_mapping.py) inside block N -> Hugging Face names inside layer N.
const std::map<std::string, std::string>& layer_names() {
  static const std::map<std::string, std::string> names = {
      {"attn_norm.weight", "input_layernorm.weight"},      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},        {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.weight", "self_attn.k_proj.weight"},        {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.weight", "self_attn.v_proj.weight"},        {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_output.weight", "self_attn.o_proj.weight"},   {"attn_output.bias", "self_attn.o_proj.bias"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},         {"ffn_gate.bias", "mlp.gate_proj.bias"},
      {"ffn_up.weight", "mlp.up_proj.weight"},             {"ffn_up.bias", "mlp.up_proj.bias"},
      {"ffn_down.weight", "mlp.down_proj.weight"},         {"ffn_down.bias", "mlp.down_proj.bias"},
  };
  return names;
}

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

// llama.cpp's token attributes (tokenizer.ggml.token_type).
enum TokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// How the text is cut before BPE for one tokenizer.ggml.pre, as llama-vocab.cpp's llm_tokenizer_bpe does it and
// as the Hugging Face tokenizer the file came from wrote it.
struct PreTokenizer {
  json normalizer;             // null: none
  json pre_tokenizer;
  bool ignore_merges = false;  // llama.cpp: a whole word in the vocabulary is one token
  bool add_bos = false;        // llama.cpp's default when tokenizer.ggml.add_bos_token is absent
  bool clean_spaces = true;    // clean_up_tokenization_spaces
  bool qwen2_split = false;
};

const char* const kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt2Split = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

json split(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

PreTokenizer pre_tokenizer_for(const File& file, const std::string& pre) {
  static const std::set<std::string> llama3 = {"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral",
                                               "midm-2.0", "lfm2", "jina-v5-nano"};
  static const std::set<std::string> llama3_split = {"dbrx", "smaug-bpe"};
  static const std::set<std::string> qwen2 = {"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"};
  static const std::set<std::string> digits_then_gpt2 = {"smollm", "starcoder", "refact", "command-r", "codeshell",
                                                         "exaone", "minerva-7b"};
  static const std::set<std::string> gpt2 = {"gpt-2", "phi-2", "mpt", "olmo", "jais", "jina-es", "jina-de", "gigachat",
                                             "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "exaone4", "trillion"};
  PreTokenizer p;
  if (llama3.count(pre) || llama3_split.count(pre)) {
    p.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split(kLlama3Split), byte_level(false)}}};
    p.ignore_merges = p.add_bos = llama3.count(pre) > 0;
  } else if (qwen2.count(pre)) {
    // Qwen2's own tokenizer (and transformers' Qwen2Tokenizer) normalises to NFC first; llama.cpp does not.
    p.normalizer = {{"type", "NFC"}};
    p.pre_tokenizer = {{"type", "Sequence"}, {"pretokenizers", {split(kQwen2Split), byte_level(false)}}};
    p.clean_spaces = false;
    p.qwen2_split = true;
  } else if (digits_then_gpt2.count(pre)) {
    // llama.cpp splits "\p{N}" then GPT-2's regex; SmolLM's tokenizer.json says the same this way.
    p.pre_tokenizer = {{"type", "Sequence"},
                       {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
    p.clean_spaces = pre != "smollm" && pre != "command-r";
  } else if (gpt2.count(pre)) {
    p.pre_tokenizer = byte_level(true);
  } else if (pre == "default") {
    // llama.cpp's fallback chain for BPE files that name no pre-tokenizer.
    p.pre_tokenizer = {{"type", "Sequence"},
                       {"pretokenizers", {split(R"([\p{P}\$\+<=>\^~\|]+)"), split(kGpt2Split), split(R"(\p{N}+)"),
                                          split("[0-9][0-9][0-9]"), byte_level(false)}}};
  } else {
    ZT_THROW(file.path() << ": tokenizer.ggml.pre '" << pre << "' is not a pre-tokenizer ztune knows (it knows the llama3, "
                            "qwen2, smollm and gpt-2 families and 'default')");
  }
  return p;
}

struct Tokenizer {
  json tokenizer;         // tokenizer.json
  json tokenizer_config;  // tokenizer_config.json
  json special_ids = json::object();  // bos/eos/pad ids for config.json and generation_config.json
  int64_t vocab_size = 0;
};

Tokenizer read_tokenizer(const File& file, const ModelShape& m) {
  const std::optional<std::string> model = optional_string(file, "tokenizer.ggml.model");
  ZT_REQUIRE(model.has_value(), file.path() << ": metadata 'tokenizer.ggml.model' is missing (no tokenizer in the file)");
  ZT_REQUIRE(*model == "gpt2", file.path() << ": tokenizer.ggml.model is '" << *model
                                           << "'; ztune imports only 'gpt2' (byte-level BPE) tokenizers");
  const std::vector<Value>& token_values = array_of(file, "tokenizer.ggml.tokens", ValueType::STRING, "an array of strings");
  std::vector<std::string> tokens;
  tokens.reserve(token_values.size());
  for (const Value& value : token_values) {
    ZT_REQUIRE(valid_utf8(value.string_value),
               file.path() << ": tokenizer.ggml.tokens[" << tokens.size() << "] is not valid UTF-8");
    tokens.push_back(value.string_value);
  }
  const int64_t num_tokens = static_cast<int64_t>(tokens.size());
  ZT_REQUIRE(num_tokens > 0, file.path() << ": tokenizer.ggml.tokens is empty");
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (file.find("tokenizer.ggml.token_type")) {
    const Value& type_values = required(file, "tokenizer.ggml.token_type");
    ZT_REQUIRE(type_values.type == ValueType::ARRAY && type_values.items.size() == tokens.size(),
               file.path() << ": tokenizer.ggml.token_type is not an array of one type per token (" << tokens.size() << ")");
    for (size_t i = 0; i < types.size(); ++i) types[i] = as_integer(file, "tokenizer.ggml.token_type", type_values.items[i]);
  }
  const std::string pre_name = optional_string(file, "tokenizer.ggml.pre").value_or("default");
  if (!file.find("tokenizer.ggml.pre"))
    ZT_LOG_WARN(file.path() << " names no tokenizer.ggml.pre; using llama.cpp's 'default' pre-tokenizer");
  const PreTokenizer pre = pre_tokenizer_for(file, pre_name);
  if (std::string(m.arch->model_type) == "qwen2" && !pre.qwen2_split)
    ZT_LOG_WARN(file.path() << ": tokenizer.ggml.pre is '" << pre_name << "', but transformers tokenizes every qwen2 model "
                            "with Qwen2Tokenizer's own pre-tokenizer");

  // The vocabulary: every token under its stored spelling (byte-level for normal tokens); a repeated spelling
  // keeps its first id, and added tokens are found by their own id anyway.
  json vocab = json::object();
  size_t repeated = 0;
  for (int pass = 0; pass < 2; ++pass)
    for (int64_t id = 0; id < num_tokens; ++id) {
      const bool added = types[id] == kControl || types[id] == kUserDefined || types[id] == kUnknown;
      if (added != (pass == 1)) continue;
      if (vocab.contains(tokens[id])) ++repeated;
      else vocab[tokens[id]] = id;
    }
  if (repeated > 0) ZT_LOG_WARN(file.path() << ": " << repeated << " tokens repeat an earlier token's text");

  // Merges "a b": split at the first space after the first byte, as llama-vocab.cpp does.
  json merges = json::array();
  size_t dropped = 0;
  if (file.find("tokenizer.ggml.merges")) {
    const std::vector<Value>& items = array_of(file, "tokenizer.ggml.merges", ValueType::STRING, "an array of strings");
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string& text = items[i].string_value;
      const size_t space = text.size() > 1 ? text.find(' ', 1) : std::string::npos;
      ZT_REQUIRE(space != std::string::npos && valid_utf8(text),
                 file.path() << ": tokenizer.ggml.merges[" << i << "] = '" << (valid_utf8(text) ? text : "<invalid UTF-8>")
                             << "' is not two tokens separated by a space");
      std::string left = text.substr(0, space), right = text.substr(space + 1);
      // tokenizers refuses a merge whose parts or result are not tokens; llama.cpp never produces such a token.
      if (!vocab.contains(left) || !vocab.contains(right) || !vocab.contains(left + right)) {
        ++dropped;
        continue;
      }
      merges.push_back({std::move(left), std::move(right)});
    }
  } else {
    ZT_THROW(file.path() << ": metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs its merges)");
  }
  if (dropped > 0) ZT_LOG_WARN(file.path() << ": dropped " << dropped << " merges whose tokens are not in the vocabulary");

  auto token_id = [&](const char* key) -> std::optional<int64_t> {
    const std::string full = std::string("tokenizer.ggml.") + key;
    const Value* value = file.find(full);
    if (value == nullptr) return std::nullopt;
    const int64_t id = as_integer(file, full, *value);
    ZT_REQUIRE(id >= 0 && id < num_tokens, file.path() << ": " << full << " = " << id << " is not a token id (0 to "
                                                       << num_tokens - 1 << ")");
    return id;
  };
  const std::optional<int64_t> bos = token_id("bos_token_id"), eos = token_id("eos_token_id"),
                               unk = token_id("unknown_token_id"), pad = token_id("padding_token_id"),
                               eot = token_id("eot_token_id"), eom = token_id("eom_token_id");
  const bool add_bos = optional_bool(file, "tokenizer.ggml.add_bos_token").value_or(pre.add_bos);
  const bool add_eos = optional_bool(file, "tokenizer.ggml.add_eos_token").value_or(false);
  ZT_REQUIRE(!add_bos || bos.has_value(), file.path() << ": tokenizer.ggml.add_bos_token is true but there is no bos_token_id");
  ZT_REQUIRE(!add_eos || eos.has_value(), file.path() << ": tokenizer.ggml.add_eos_token is true but there is no eos_token_id");

  json added_tokens = json::array(), added_decoder = json::object();
  for (int64_t id = 0; id < num_tokens; ++id) {
    if (types[id] != kControl && types[id] != kUserDefined && types[id] != kUnknown) continue;
    const bool special = types[id] != kUserDefined;
    added_tokens.push_back({{"id", id}, {"content", tokens[id]}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", false}, {"special", special}});
    added_decoder[std::to_string(id)] = {{"content", tokens[id]}, {"lstrip", false}, {"normalized", false},
                                         {"rstrip", false}, {"single_word", false}, {"special", special}};
  }

  json post_processor = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  if (add_bos || add_eos) {
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
    post_processor = {{"type", "Sequence"},
                      {"processors", {post_processor, {{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair},
                                                       {"special_tokens", specials}}}}};
  }

  Tokenizer out;
  out.vocab_size = num_tokens;
  out.tokenizer = {
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added_tokens},
      {"normalizer", pre.normalizer}, {"pre_tokenizer", pre.pre_tokenizer}, {"post_processor", post_processor},
      {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", unk ? json(tokens[*unk]) : json(nullptr)},
                 {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr}, {"fuse_unk", false},
                 {"byte_fallback", false}, {"ignore_merges", pre.ignore_merges}, {"vocab", vocab}, {"merges", merges}}}};

  auto text_of = [&](const std::optional<int64_t>& id) { return id ? json(tokens[*id]) : json(nullptr); };
  json& config = out.tokenizer_config;
  config["added_tokens_decoder"] = added_decoder;
  config["bos_token"] = text_of(bos);
  config["eos_token"] = text_of(eos);
  config["pad_token"] = text_of(pad);
  config["unk_token"] = text_of(unk);
  if (add_bos) config["add_bos_token"] = true;
  if (add_eos) config["add_eos_token"] = true;
  config["clean_up_tokenization_spaces"] = pre.clean_spaces;
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
    for (const auto& extra : {eot, eom})
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
