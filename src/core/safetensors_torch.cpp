#include "core/safetensors_torch.h"

#include "core/torch_api.h"

#include "core/check.h"

namespace zt::st {
namespace {

std::optional<at::ScalarType> torch_type(DType dtype) {
  switch (dtype) {
    case DType::BOOL: return at::kBool;
    case DType::U8: return at::kByte;
    case DType::I8: return at::kChar;
    case DType::I16: return at::kShort;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I32: return at::kInt;
    case DType::F32: return at::kFloat;
    case DType::F64: return at::kDouble;
    case DType::I64: return at::kLong;
    case DType::F8_E4M3: return at::kFloat8_e4m3fn;
    case DType::F8_E5M2: return at::kFloat8_e5m2;
    case DType::U16: return at::kUInt16;
    case DType::U32: return at::kUInt32;
    case DType::U64: return at::kUInt64;
  }
  return std::nullopt;
}

DType file_type(at::ScalarType type, const std::string& name) {
  for (DType dtype : {DType::BOOL, DType::U8, DType::I8, DType::I16, DType::F16, DType::BF16, DType::I32,
                      DType::F32, DType::F64, DType::I64, DType::F8_E4M3, DType::F8_E5M2, DType::U16,
                      DType::U32, DType::U64})
    if (torch_type(dtype) == type) return dtype;
  ZT_THROW("tensor '" << name << "' has dtype " << c10::toString(type) << ", which safetensors cannot store");
}

}  // namespace

at::Tensor to_tensor(const std::shared_ptr<const File>& file, const TensorInfo& info) {
  std::optional<at::ScalarType> type = torch_type(info.dtype);
  ZT_REQUIRE(type.has_value(), file->path() << ": tensor '" << info.name << "' has dtype "
                                            << dtype_name(info.dtype) << ", which libtorch cannot hold");
  const uint8_t* bytes = file->view().data(info);
  auto options = at::TensorOptions().dtype(*type).device(at::kCPU);
  if (info.nbytes() == 0) return at::empty(info.shape, options);
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(info.dtype) != 0) {
    at::Tensor copy = at::empty(info.shape, options);
    std::memcpy(copy.data_ptr(), bytes, info.nbytes());
    return copy;
  }
  // The mapping is read-only: callers that modify weights must clone first.
  std::shared_ptr<const File> keep_alive = file;
  return at::from_blob(const_cast<uint8_t*>(bytes), info.shape, [keep_alive](void*) {}, options);
}

at::Tensor load_tensor(const Checkpoint& checkpoint, const std::string& name) {
  auto [file, info] = checkpoint.locate(name);
  return to_tensor(file, *info);
}

std::vector<std::pair<std::string, at::Tensor>> load_tensors(const std::string& path) {
  const Checkpoint checkpoint = Checkpoint::open(path);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const std::string& name : checkpoint.names()) tensors.emplace_back(name, load_tensor(checkpoint, name).clone());
  return tensors;
}

void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> contiguous;
  std::vector<TensorBytes> entries;
  contiguous.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    contiguous.push_back(tensor.detach().to(at::kCPU).contiguous());
    const at::Tensor& held = contiguous.back();
    entries.push_back({name, file_type(held.scalar_type(), name),
                       std::vector<int64_t>(held.sizes().begin(), held.sizes().end()), held.data_ptr(),
                       static_cast<size_t>(held.nbytes())});
  }
  write_file(path, entries, metadata);
}

}  // namespace zt::st
