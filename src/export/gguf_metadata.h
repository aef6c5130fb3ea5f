// Typed reads of a GGUF file's metadata for the conversion to Hugging Face files: each wrong type or missing key is
// an error naming the file and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "export/gguf.h"

namespace zt::exporting::gguf_meta {

[[noreturn]] void wrong_type(const gguf::File& file, const std::string& key, const gguf::Value& value, const char* wanted);
const gguf::Value& required(const gguf::File& file, const std::string& key);
int64_t as_integer(const gguf::File& file, const std::string& key, const gguf::Value& value);
// A per-model integer; llama.cpp also allows one per layer, which must then be the same for every layer.
int64_t model_integer(const gguf::File& file, const std::string& key, std::optional<int64_t> fallback = std::nullopt);
// A number; a float32 comes back as the shortest decimal that reads back as it (1e-06, not 9.99999997e-07).
double model_number(const gguf::File& file, const std::string& key, std::optional<double> fallback = std::nullopt);
std::optional<std::string> optional_string(const gguf::File& file, const std::string& key);
std::optional<bool> optional_bool(const gguf::File& file, const std::string& key);
const std::vector<gguf::Value>& array_of(const gguf::File& file, const std::string& key, gguf::ValueType element,
                                         const char* wanted);
bool valid_utf8(const std::string& text);

}  // namespace zt::exporting::gguf_meta
