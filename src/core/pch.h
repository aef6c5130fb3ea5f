// Precompiled header: the heavy, stable includes every translation unit may use.
#pragma once

#include "core/torch_api.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
