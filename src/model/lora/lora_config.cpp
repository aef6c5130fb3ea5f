#include "model/lora/lora_config.h"

#include <cmath>

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

}  // namespace zt::model
