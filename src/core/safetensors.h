// safetensors: reading (memory-mapped, single file or sharded with model.safetensors.index.json) and
// writing (header padded to 8, __metadata__, sharding by size with an index).
//
// The reader validates every rule of the format before any tensor byte is touched, so a truncated or
// hostile file is rejected with a message naming the file and tensor, and never read out of bounds.
// This file has no torch dependency (the fuzzer builds it alone); safetensors_torch.h converts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"

namespace zt::st {

enum class DType : uint8_t {
  BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8_E4M3, F8_E5M2
};
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);
std::optional<DType> parse_dtype(std::string_view name);

// Largest header the reference implementation accepts.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the start of the data buffer
  uint64_t end = 0;
  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// A validated safetensors image over bytes owned by someone else.
class View {
 public:
  // Parses and validates; throws zt::Error "<source>: <problem>" on any violation.
  static View parse(const uint8_t* bytes, size_t size, const std::string& source);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in data order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }
  // nullptr when absent.
  const TensorInfo* find(std::string_view name) const;
  const TensorInfo& at(std::string_view name) const;  // zt::Error when absent
  const uint8_t* data(const TensorInfo& info) const { return data_start_ + info.begin; }

 private:
  std::string source_;
  const uint8_t* data_start_ = nullptr;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

// One memory-mapped .safetensors file.
class File {
 public:
  static std::shared_ptr<const File> open(const std::string& path);
  const View& view() const { return view_; }
  const std::string& path() const { return map_.path(); }

 private:
  MappedFile map_;
  View view_;
};

// A model's weights: one file, or several listed by model.safetensors.index.json.
class Checkpoint {
 public:
  // `path` is a folder (index or model.safetensors inside), an index .json, or a .safetensors file.
  static Checkpoint open(const std::string& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(std::string_view name) const { return where_.find(name) != where_.end(); }
  // The file holding `name` and its entry there; zt::Error naming the tensor when absent.
  std::pair<std::shared_ptr<const File>, const TensorInfo*> locate(std::string_view name) const;
  const std::vector<std::shared_ptr<const File>>& files() const { return files_; }

 private:
  std::vector<std::shared_ptr<const File>> files_;
  std::map<std::string, size_t, std::less<>> where_;  // tensor name -> index into files_
};

// ---- writing ----

struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes one file; tensors are stored in the given order. The header is space-padded to a multiple of 8.
void write_file(const std::string& path, const std::vector<TensorBytes>& tensors,
                const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Writes `tensors` into `dir` as `<stem>.safetensors` when they fit in one shard, else as
// `<stem>-0000i-of-0000n.safetensors` plus `<stem>.safetensors.index.json`. A shard is closed before
// it would pass `max_shard_bytes` (a single larger tensor gets a shard of its own). Returns file names.
std::vector<std::string> write_sharded(const std::string& dir, const std::vector<TensorBytes>& tensors,
                                       uint64_t max_shard_bytes, const std::string& stem = "model",
                                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// "5GB" -> 5e9, "500MB", "2GiB", "4096" (bytes); as transformers reads max_shard_size.
uint64_t parse_size(std::string_view text);

}  // namespace zt::st
