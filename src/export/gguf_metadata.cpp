#include "export/gguf_metadata.h"

#include <cstdio>
#include <cstdlib>
#include <limits>

#include "core/check.h"

namespace zt::exporting::gguf_meta {

using gguf::File;
using gguf::Value;
using gguf::ValueType;

namespace {

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

}  // namespace

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

int64_t model_integer(const File& file, const std::string& key, std::optional<int64_t> fallback) {
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

double model_number(const File& file, const std::string& key, std::optional<double> fallback) {
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

}  // namespace zt::exporting::gguf_meta
