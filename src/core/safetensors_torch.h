// Bridges safetensors entries and torch tensors.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/safetensors.h"

namespace at {
class Tensor;
}

namespace zt::st {

// A CPU tensor over the file's bytes when they are aligned for the dtype (the file stays mapped while
// the tensor lives), otherwise a copy. Dtypes libtorch lacks are a zt::Error naming the tensor.
at::Tensor to_tensor(const std::shared_ptr<const File>& file, const TensorInfo& info);
at::Tensor load_tensor(const Checkpoint& checkpoint, const std::string& name);
// Every tensor of a file or folder (Checkpoint::open), in name order, as owned CPU tensors.
std::vector<std::pair<std::string, at::Tensor>> load_tensors(const std::string& path);

// Writes CPU tensors (made contiguous first) to one file.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace zt::st
