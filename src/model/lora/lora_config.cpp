#include "model/lora/lora_config.h"

#include <cmath>
#include <regex>

#include "core/check.h"

namespace zt::model {

double LoraConfig::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

LoraConfig lora_config(int64_t rank, double alpha, double dropout) {
  LoraConfig config;
  config.rank = rank;
  config.alpha = alpha;
  config.dropout = dropout;
  return config;
}

bool is_lora_target(const LoraConfig& lora, const std::string& path, const std::string& module) {
  for (const std::string& target : lora.target_modules) {
    if (target == "all-linear" || target == module) return true;
    // A regex matches the whole module path, as PEFT does with a string target_modules.
    if (target.find_first_of("^$.*+?()[]{}|\\") != std::string::npos) {
      try {
        if (std::regex_match(path, std::regex(target))) return true;
      } catch (const std::regex_error&) {
        ZT_THROW("--target_modules '" << target << "' is neither a module name nor a valid regex");
      }
    }
  }
  return false;
}

}  // namespace zt::model
