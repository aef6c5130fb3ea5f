// JSON files read and written with errors that name the file.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace zt {

// The parsed file; a missing or malformed file is a zt::Error naming it.
nlohmann::json read_json_file(const std::string& path);
// The parsed file, or an empty object when there is no such file.
nlohmann::json read_json_file_or_empty(const std::string& path);
// Writes `value` indented; a failed write (disk full) is a zt::Error naming the file.
void write_json_file(const std::string& path, const nlohmann::json& value);

}  // namespace zt
