#include "model/lora/lora_config.h"

#include <cmath>
#include <regex>

#include "core/check.h"

namespace zt::model {

double LoraConfig::scaling() const {
  return use_rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

namespace {

// PEFT's pattern lookup: the first key whose regex matches the end of `path` after a dot (or all of it).
template <class T>
const T* pattern_value(const std::map<std::string, T>& patterns, const std::string& path) {
  for (const auto& [pattern, value] : patterns) {
    try {
      if (std::regex_match(path, std::regex("(.*\\.)?(" + pattern + ")"))) return &value;
    } catch (const std::regex_error&) {
      ZT_THROW("LoRA rank or alpha pattern '" << pattern << "' is not a valid regex");
    }
  }
  return nullptr;
}

}  // namespace

int64_t LoraConfig::rank_at(const std::string& path) const {
  const int64_t* found = pattern_value(rank_pattern, path);
  return found != nullptr ? *found : rank;
}

double LoraConfig::scaling_at(const std::string& path) const {
  const double* found_alpha = pattern_value(alpha_pattern, path);
  const double a = found_alpha != nullptr ? *found_alpha : alpha;
  const double r = static_cast<double>(rank_at(path));
  return use_rslora ? a / std::sqrt(r) : a / r;
}

bool is_parameter_target(const LoraConfig& lora, const std::string& key) {
  for (const std::string& target : lora.target_parameters)
    if (key == target || (key.size() > target.size() && key.compare(key.size() - target.size(), target.size(), target) == 0 &&
                          key[key.size() - target.size() - 1] == '.'))
      return true;
  return false;
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
