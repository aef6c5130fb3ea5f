#include "core/safetensors.h"


#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"
#include "core/fs.h"

namespace zt::st {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},   {DType::I8, "I8", 1},
    {DType::I16, "I16", 2},   {DType::U16, "U16", 2}, {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4}, {DType::U32, "U32", 4},
    {DType::F32, "F32", 4},   {DType::F64, "F64", 8}, {DType::I64, "I64", 8},
    {DType::U64, "U64", 8},   {DType::F8_E4M3, "F8_E4M3", 1}, {DType::F8_E5M2, "F8_E5M2", 1},
};

const DTypeEntry& entry_of(DType dtype) {
  for (const DTypeEntry& entry : kDTypes)
    if (entry.dtype == dtype) return entry;
  ZT_CHECK(false, "unknown dtype enum " << static_cast<int>(dtype));
  return kDTypes[0];
}

// Strict UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). Returns the offset of the
// first bad byte, or npos when the text is valid.
size_t find_invalid_utf8(const uint8_t* text, size_t size) {
  size_t i = 0;
  while (i < size) {
    uint8_t lead = text[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t min_code = 0, code = 0;
    if ((lead & 0xE0) == 0xC0) { length = 2; min_code = 0x80; code = lead & 0x1F; }
    else if ((lead & 0xF0) == 0xE0) { length = 3; min_code = 0x800; code = lead & 0x0F; }
    else if ((lead & 0xF8) == 0xF0) { length = 4; min_code = 0x10000; code = lead & 0x07; }
    else return i;
    if (size - i < length) return i;
    for (size_t k = 1; k < length; ++k) {
      if ((text[i + k] & 0xC0) != 0x80) return i;
      code = (code << 6) | (text[i + k] & 0x3F);
    }
    if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return i;
    i += length;
  }
  return std::string::npos;
}

// The deepest valid header is 3 levels ({ "t": { "shape": [ ] } }); refusing deeper nesting before
// parsing keeps a hostile header from exhausting the stack.
int max_nesting(const uint8_t* text, size_t size) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < size; ++i) {
    uint8_t c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      deepest = std::max(deepest, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return deepest;
}

uint64_t read_u64_le(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

bool is_safe_file_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
         name != "." && name != "..";
}

}  // namespace

size_t dtype_size(DType dtype) { return entry_of(dtype).size; }
const char* dtype_name(DType dtype) { return entry_of(dtype).name; }

std::optional<DType> parse_dtype(std::string_view name) {
  for (const DTypeEntry& entry : kDTypes)
    if (name == entry.name) return entry.dtype;
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

View View::parse(const uint8_t* bytes, size_t size, const std::string& source) {
  ZT_REQUIRE(size >= 8, source << ": file is " << size
                               << " bytes, too short for the 8-byte header length (truncated?)");
  const uint64_t header_length = read_u64_le(bytes);
  ZT_REQUIRE(header_length <= kMaxHeaderBytes,
             source << ": header length " << header_length << " exceeds the 100 MB limit (corrupt file?)");
  ZT_REQUIRE(header_length <= size - 8, source << ": header length " << header_length
                                               << " runs past the end of the file (" << size
                                               << " bytes; truncated?)");
  const uint8_t* header = bytes + 8;
  ZT_REQUIRE(header_length >= 2 && header[0] == '{',
             source << ": header does not start with '{' (not a safetensors file?)");
  size_t bad_byte = find_invalid_utf8(header, header_length);
  ZT_REQUIRE(bad_byte == std::string::npos,
             source << ": header is not valid UTF-8 (byte " << bad_byte << " of the header)");
  ZT_REQUIRE(max_nesting(header, header_length) <= 3, source << ": header JSON is nested too deeply");

  std::set<std::string> seen_keys;
  std::string duplicate_key;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen_keys.insert(key).second && duplicate_key.empty()) duplicate_key = key;
    }
    return true;
  };
  json root;
  try {
    root = json::parse(header, header + header_length, on_event);
  } catch (const json::exception& error) {
    ZT_THROW(source << ": header is not valid JSON (" << error.what() << ")");
  }
  ZT_REQUIRE(root.is_object(), source << ": header JSON is not an object");
  ZT_REQUIRE(duplicate_key.empty(), source << ": tensor '" << duplicate_key << "' appears twice in the header");

  View view;
  view.source_ = source;
  view.data_start_ = header + header_length;
  const uint64_t data_size = size - 8 - header_length;

  for (auto& [name, entry] : root.items()) {
    if (name == "__metadata__") {
      ZT_REQUIRE(entry.is_object(), source << ": __metadata__ must be an object of strings");
      for (auto& [key, value] : entry.items()) {
        ZT_REQUIRE(value.is_string(), source << ": __metadata__ value for '" << key << "' is not a string");
        view.metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = source + ": tensor '" + name + "'";
    ZT_REQUIRE(entry.is_object(), where << ": entry is not an object");
    for (auto& [key, value] : entry.items())
      ZT_REQUIRE(key == "dtype" || key == "shape" || key == "data_offsets",
                 where << ": unexpected key '" << key << "'");
    ZT_REQUIRE(entry.contains("dtype") && entry["dtype"].is_string(), where << ": missing or non-string dtype");
    ZT_REQUIRE(entry.contains("shape") && entry["shape"].is_array(), where << ": missing or non-array shape");
    ZT_REQUIRE(entry.contains("data_offsets") && entry["data_offsets"].is_array() &&
                   entry["data_offsets"].size() == 2,
               where << ": data_offsets must be [begin, end]");

    TensorInfo info;
    info.name = name;
    std::string dtype_text = entry["dtype"].get<std::string>();
    std::optional<DType> dtype = parse_dtype(dtype_text);
    ZT_REQUIRE(dtype.has_value(), where << ": unknown dtype '" << dtype_text << "'");
    info.dtype = *dtype;

    uint64_t numel = 1;
    for (const json& dim : entry["shape"]) {
      ZT_REQUIRE(dim.is_number_unsigned(), where << ": shape entries must be non-negative integers");
      uint64_t extent = dim.get<uint64_t>();
      ZT_REQUIRE(extent <= static_cast<uint64_t>(INT64_MAX) && !__builtin_mul_overflow(numel, extent, &numel) &&
                     numel <= static_cast<uint64_t>(INT64_MAX),
                 where << ": shape is too large");
      info.shape.push_back(static_cast<int64_t>(extent));
    }
    const json& offsets = entry["data_offsets"];
    ZT_REQUIRE(offsets[0].is_number_unsigned() && offsets[1].is_number_unsigned(),
               where << ": data_offsets must be non-negative integers");
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();
    ZT_REQUIRE(info.begin <= info.end, where << ": data_offsets begin " << info.begin << " > end " << info.end);
    uint64_t expected_bytes = 0;
    ZT_REQUIRE(!__builtin_mul_overflow(numel, static_cast<uint64_t>(dtype_size(info.dtype)), &expected_bytes) &&
                   expected_bytes == info.end - info.begin,
               where << ": holds " << (info.end - info.begin) << " bytes but shape and dtype " << dtype_text
                     << " need " << expected_bytes);
    ZT_REQUIRE(info.end <= data_size, where << ": data_offsets end " << info.end
                                            << " runs past the end of the file (data is " << data_size
                                            << " bytes; truncated?)");
    view.tensors_.push_back(std::move(info));
  }

  std::sort(view.tensors_.begin(), view.tensors_.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expected_begin = 0;
  for (const TensorInfo& info : view.tensors_) {
    ZT_REQUIRE(info.begin == expected_begin,
               source << ": tensor '" << info.name << "' starts at byte " << info.begin << " but the previous tensor ends at "
                      << expected_begin << (info.begin < expected_begin ? " (overlapping data)" : " (hole in data)"));
    expected_begin = info.end;
  }
  ZT_REQUIRE(expected_begin == data_size,
             source << ": tensors cover " << expected_begin << " bytes but the data section is " << data_size
                    << " bytes (trailing bytes or truncated file)");
  for (size_t i = 0; i < view.tensors_.size(); ++i) view.index_[view.tensors_[i].name] = i;
  return view;
}

const TensorInfo* View::find(std::string_view name) const {
  auto found = index_.find(name);
  return found == index_.end() ? nullptr : &tensors_[found->second];
}

const TensorInfo& View::at(std::string_view name) const {
  const TensorInfo* info = find(name);
  ZT_REQUIRE(info != nullptr, source_ << ": no tensor named '" << name << "'");
  return *info;
}

std::shared_ptr<const File> File::open(const std::string& path) {
  auto file = std::make_shared<File>();
  file->map_ = MappedFile::open(path);
  file->view_ = View::parse(file->map_.data(), file->map_.size(), path);
  return file;
}

Checkpoint Checkpoint::open(const std::string& path) {
  Checkpoint checkpoint;
  std::string index_path;
  if (fs::is_directory(path)) {
    fs::path index = fs::path(path) / "model.safetensors.index.json";
    fs::path single = fs::path(path) / "model.safetensors";
    if (fs::exists(index)) index_path = index.string();
    else if (fs::exists(single)) return open(single.string());
    else ZT_THROW(path << ": no model.safetensors or model.safetensors.index.json in this folder");
  } else if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    index_path = path;
  } else {
    checkpoint.files_.push_back(File::open(path));
    for (const TensorInfo& info : checkpoint.files_[0]->view().tensors()) checkpoint.where_[info.name] = 0;
    return checkpoint;
  }

  json index;
  try {
    std::FILE* handle = std::fopen(index_path.c_str(), "rb");
    ZT_REQUIRE(handle != nullptr, index_path << ": cannot open (" << std::strerror(errno) << ")");
    std::string text;
    char buffer[65536];
    size_t got;
    while ((got = std::fread(buffer, 1, sizeof(buffer), handle)) > 0) text.append(buffer, got);
    std::fclose(handle);
    index = json::parse(text);
  } catch (const json::exception& error) {
    ZT_THROW(index_path << ": not valid JSON (" << error.what() << ")");
  }
  ZT_REQUIRE(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(),
             index_path << ": missing the \"weight_map\" object");
  const fs::path folder = fs::path(index_path).parent_path();
  std::map<std::string, size_t> file_slot;
  for (auto& [name, file_name_json] : index["weight_map"].items()) {
    ZT_REQUIRE(file_name_json.is_string(), index_path << ": weight_map entry for '" << name << "' is not a file name");
    std::string file_name = file_name_json.get<std::string>();
    ZT_REQUIRE(is_safe_file_name(file_name),
               index_path << ": weight_map entry for '" << name << "' names '" << file_name
                          << "', which is not a plain file name in this folder");
    auto [slot, inserted] = file_slot.emplace(file_name, checkpoint.files_.size());
    if (inserted) checkpoint.files_.push_back(File::open((folder / file_name).string()));
    ZT_REQUIRE(checkpoint.files_[slot->second]->view().find(name) != nullptr,
               index_path << ": the index puts tensor '" << name << "' in " << file_name
                          << " but that file does not contain it");
    checkpoint.where_[name] = slot->second;
  }
  return checkpoint;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, slot] : where_) out.push_back(name);
  return out;
}

std::pair<std::shared_ptr<const File>, const TensorInfo*> Checkpoint::locate(std::string_view name) const {
  auto found = where_.find(name);
  ZT_REQUIRE(found != where_.end(), "weights have no tensor named '" << name << "'");
  const auto& file = files_[found->second];
  return {file, file->view().find(name)};
}

// ---- writing ----


void write_file(const std::string& path, const std::vector<TensorBytes>& tensors,
                const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> names;
  for (const TensorBytes& tensor : tensors) {
    ZT_REQUIRE(names.insert(tensor.name).second, path << ": tensor '" << tensor.name << "' given twice");
    uint64_t numel = 1;
    for (int64_t dim : tensor.shape) {
      ZT_CHECK(dim >= 0, "negative dimension in tensor " << tensor.name);
      numel *= static_cast<uint64_t>(dim);
    }
    ZT_CHECK(numel * dtype_size(tensor.dtype) == tensor.nbytes,
             "tensor " << tensor.name << " has " << tensor.nbytes << " bytes for " << numel << " elements of "
                       << dtype_name(tensor.dtype));
    header[tensor.name] = {{"dtype", dtype_name(tensor.dtype)},
                           {"shape", tensor.shape},
                           {"data_offsets", {offset, offset + tensor.nbytes}}};
    offset += tensor.nbytes;
  }
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');
  uint8_t length_bytes[8];
  for (int i = 0; i < 8; ++i) length_bytes[i] = static_cast<uint8_t>(header_text.size() >> (8 * i));

  fs_util::write_stream_atomically(path, [&](std::FILE* handle, const std::string& temporary) {
    fs_util::write_bytes(handle, length_bytes, 8, temporary);
    fs_util::write_bytes(handle, header_text.data(), header_text.size(), temporary);
    for (const TensorBytes& tensor : tensors) fs_util::write_bytes(handle, tensor.data, tensor.nbytes, temporary);
  });
}

std::vector<std::string> write_sharded(const std::string& dir, const std::vector<TensorBytes>& tensors,
                                       uint64_t max_shard_bytes, const std::string& stem,
                                       const std::map<std::string, std::string>& metadata) {
  ZT_REQUIRE(max_shard_bytes > 0, "max_shard_size must be positive");
  std::vector<std::vector<TensorBytes>> shards(1);
  uint64_t shard_bytes = 0, total_bytes = 0;
  for (const TensorBytes& tensor : tensors) {
    if (!shards.back().empty() && shard_bytes + tensor.nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(tensor);
    shard_bytes += tensor.nbytes;
    total_bytes += tensor.nbytes;
  }
  fs_util::make_directories(dir, "output folder");
  std::vector<std::string> file_names;
  if (shards.size() == 1) {
    file_names.push_back(stem + ".safetensors");
    write_file((fs::path(dir) / file_names[0]).string(), shards[0], metadata);
    return file_names;
  }
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    file_names.push_back(stem + name);
    write_file((fs::path(dir) / file_names.back()).string(), shards[i], metadata);
    for (const TensorBytes& tensor : shards[i]) weight_map[tensor.name] = file_names.back();
  }
  json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  const std::string index_path = (fs::path(dir) / (stem + ".safetensors.index.json")).string();
  fs_util::write_file_atomically(index_path, index.dump(2) + "\n");
  return file_names;
}

uint64_t parse_size(std::string_view text) {
  std::string upper;
  for (char c : text) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  struct Unit {
    const char* suffix;
    double factor;
  };
  // Longest suffixes first so "GIB" is not read as "B".
  static constexpr Unit kUnits[] = {{"GIB", 1073741824.0}, {"MIB", 1048576.0}, {"KIB", 1024.0},
                                    {"GB", 1e9},           {"MB", 1e6},        {"KB", 1e3},
                                    {"B", 1.0}};
  double factor = 1.0;
  std::string number = upper;
  for (const Unit& unit : kUnits) {
    size_t length = std::strlen(unit.suffix);
    if (upper.size() > length && upper.compare(upper.size() - length, length, unit.suffix) == 0) {
      factor = unit.factor;
      number = upper.substr(0, upper.size() - length);
      break;
    }
  }
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(number.c_str(), &end);
  ZT_REQUIRE(!number.empty() && end == number.c_str() + number.size() && errno == 0 && value > 0 &&
                 std::isfinite(value),
             "cannot read size '" << text << "'; use a byte count or a unit such as 5GB, 500MB, 2GiB");
  return static_cast<uint64_t>(value * factor);
}

}  // namespace zt::st
