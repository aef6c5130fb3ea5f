#include "model/family/schema.h"

namespace zt::model {

const char* role_name(Role role) {
  switch (role) {
    case Role::kQuery: return "query";
    case Role::kKey: return "key";
    case Role::kValue: return "value";
    case Role::kOutput: return "output";
    case Role::kQueryNorm: return "query norm";
    case Role::kKeyNorm: return "key norm";
    case Role::kGate: return "gate";
    case Role::kUp: return "up";
    case Role::kDown: return "down";
    case Role::kRouter: return "router";
    case Role::kExpertGateUp: return "experts' gate and up";
    case Role::kExpertDown: return "experts' down";
    case Role::kSharedGate: return "shared expert's gate";
    case Role::kSharedUp: return "shared expert's up";
    case Role::kSharedDown: return "shared expert's down";
    case Role::kSharedExpertGate: return "shared expert's scale";
    case Role::kMixedQkv: return "mixed q, k and v";
    case Role::kOutputGate: return "output gate";
    case Role::kWriteStrength: return "write strength";
    case Role::kDecayInput: return "decay input";
    case Role::kConv: return "convolution";
    case Role::kDecayLogScale: return "decay log scale";
    case Role::kDecayBias: return "decay bias";
    case Role::kGatedNorm: return "gated norm";
  }
  return "?";
}

std::string LinearSpec::parameter_name() const {
  const std::string last = name.substr(name.rfind('.') + 1);
  return stacked() ? last : last + ".weight";
}

std::string LinearSpec::piece_name(const std::string& path, int64_t e, const std::string& part) const {
  return path.substr(0, path.rfind('.')) + "." + std::to_string(e) + "." + part + ".weight";
}

const LinearSpec* BlockSpec::linear(Role role) const {
  for (const LinearSpec& spec : linears)
    if (spec.role == role) return &spec;
  return nullptr;
}

const VectorSpec* BlockSpec::vector(Role role) const {
  for (const VectorSpec& spec : vectors)
    if (spec.role == role) return &spec;
  return nullptr;
}

}  // namespace zt::model
