#include "core/json_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/fs.h"

namespace zt {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  ZT_REQUIRE(in.good(), path << ": not found or unreadable");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    ZT_THROW(path << ": not valid JSON (" << e.what() << ")");
  }
}

nlohmann::json read_json_file_or_empty(const std::string& path) {
  return std::filesystem::exists(path) ? read_json_file(path) : nlohmann::json::object();
}

void write_json_file(const std::string& path, const nlohmann::json& value) {
  std::ofstream out(path);
  out << value.dump(2) << "\n";
  out.flush();
  if (!out.good()) ZT_SYSTEM_THROW(path << ": write failed (" << std::strerror(errno) << "); " << fs_util::write_advice(errno));
}

}  // namespace zt
