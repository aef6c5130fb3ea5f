#include "dist/flat_layout.h"

#include <algorithm>

#include "core/check.h"

namespace zt::dist {
namespace {

bool decays(const std::string& name) {
  return name.find("bias") == std::string::npos && name.find("norm") == std::string::npos;
}

}  // namespace

FlatLayout FlatLayout::build(const std::vector<std::pair<std::string, at::Tensor>>& params, int world) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& [name, tensor] : params) shapes.emplace_back(name, tensor.sizes().vec());
  return build(shapes, world);
}

FlatLayout FlatLayout::build(const std::vector<std::pair<std::string, std::vector<int64_t>>>& shapes, int world) {
  ZT_CHECK(world >= 1, "world size must be positive");
  FlatLayout layout;
  layout.world = world;
  for (const auto& [name, shape] : shapes) {
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    layout.entries.push_back(FlatEntry{name, shape, layout.numel, numel, decays(name)});
    layout.numel += numel;
  }
  const int64_t multiple = 2 * static_cast<int64_t>(world);
  layout.padded = (layout.numel + multiple - 1) / multiple * multiple;
  if (layout.padded == 0) layout.padded = multiple;
  return layout;
}

std::vector<int64_t> FlatLayout::piece_counts(int64_t begin, int64_t end) const {
  std::vector<int64_t> counts;
  const int64_t size = partition_size();
  for (int r = 0; r < world; ++r) {
    const int64_t lo = std::max(begin, r * size), hi = std::min(end, (r + 1) * size);
    counts.push_back(std::max<int64_t>(0, hi - lo));
  }
  return counts;
}

}  // namespace zt::dist
