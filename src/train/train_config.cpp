#include "train/train_config.h"

namespace zt::train {

const std::vector<std::string>& enum_names(Interval) {
  static const std::vector<std::string> names = {"steps", "epoch", "no"};
  return names;
}

}  // namespace zt::train
