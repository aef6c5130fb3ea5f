// Writes safetensors files with ztune's writer for tests/python/safetensors_interop.py check-cpp:
// one tensor per dtype (special values included), a single file and a sharded set, plus the raw bytes
// each tensor must have. usage: ztune_st_write_samples DIR
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/safetensors.h"
#include "core/safetensors_torch.h"

namespace {

std::vector<std::pair<std::string, at::Tensor>> sample_tensors() {
  torch::manual_seed(11);
  at::Tensor floats = torch::randn({4, 3});
  at::Tensor special = torch::tensor({NAN, INFINITY, -INFINITY, -0.0f, 1e-40f, 65504.0f, 3.0e38f, -1.5f});
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto [name, type] : std::vector<std::pair<std::string, at::ScalarType>>{
           {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"F64", at::kDouble}}) {
    tensors.push_back({"values." + name, floats.to(type)});
    tensors.push_back({"special." + name, special.to(type)});
  }
  tensors.push_back({"values.I64", torch::tensor({INT64_MIN, INT64_MAX, int64_t{0}, int64_t{-1}}, at::kLong)});
  tensors.push_back({"values.I32", torch::tensor({INT32_MIN, INT32_MAX, 0, -1, 5, 6}, at::kInt).reshape({3, 2})});
  tensors.push_back({"values.I16", torch::tensor({-32768, 32767, 0, -1}, at::kShort)});
  tensors.push_back({"values.I8", torch::tensor({-128, 127, 0, -1}, at::kChar)});
  tensors.push_back({"values.U8", torch::tensor({0, 255, 1, 128}, at::kByte)});
  tensors.push_back({"values.BOOL", torch::tensor({true, false, true, true, false, false}).reshape({2, 3})});
  tensors.push_back({"scalar.F32", torch::tensor(2.5f).reshape({})});
  tensors.push_back({"empty.F32", torch::zeros({0, 3})});
  // A non-contiguous view: the writer must store it in logical order.
  tensors.push_back({"transposed.F32", torch::arange(12, at::kFloat).reshape({3, 4}).t()});
  return tensors;
}

const char* dtype_of(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return "F32";
    case at::kHalf: return "F16";
    case at::kBFloat16: return "BF16";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kInt: return "I32";
    case at::kShort: return "I16";
    case at::kChar: return "I8";
    case at::kByte: return "U8";
    case at::kBool: return "BOOL";
    default: return "?";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  fs::path out = argv[1];
  fs::create_directories(out / "cpp_expected");
  auto tensors = sample_tensors();
  zt::st::save_tensors((out / "cpp_written.safetensors").string(), tensors, {{"format", "pt"}, {"writer", "ztune"}});

  nlohmann::json manifest = nlohmann::json::object();
  std::vector<at::Tensor> keep;
  std::vector<zt::st::TensorBytes> entries;
  for (auto& [name, tensor] : tensors) {
    at::Tensor contiguous = tensor.contiguous();
    keep.push_back(contiguous);
    std::ofstream(out / "cpp_expected" / (name + ".bin"), std::ios::binary)
        .write(static_cast<const char*>(contiguous.data_ptr()), static_cast<std::streamsize>(contiguous.nbytes()));
    manifest[name] = {{"dtype", dtype_of(tensor.scalar_type())}, {"shape", tensor.sizes().vec()}};
    entries.push_back({name, *zt::st::parse_dtype(dtype_of(tensor.scalar_type())), tensor.sizes().vec(),
                       contiguous.data_ptr(), static_cast<size_t>(contiguous.nbytes())});
  }
  std::ofstream(out / "cpp_manifest.json") << manifest.dump(2) << "\n";
  auto files = zt::st::write_sharded((out / "cpp_sharded").string(), entries, 64);
  std::printf("wrote %zu tensors to %s (sharded copy in %zu files)\n", tensors.size(), out.c_str(), files.size());
  return 0;
}
