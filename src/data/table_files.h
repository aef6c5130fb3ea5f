// Dataset files that cannot be read by byte ranges: a .json list of rows and a .csv table (RFC 4180, a header
// row, empty fields null). Each is read whole and every row parsed once; the shard reader deals their rows in
// chunks of rows and hands the parsed row on (RawRow::value), so nothing parses it again.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <string>
#include <vector>

namespace zt::data {

using TableRow = std::shared_ptr<const nlohmann::json>;

// A zt::Error naming the file (and the row) when it cannot be read, is not a list of rows, or a CSV record does
// not match its header.
std::vector<TableRow> read_json_rows(const std::string& path);
std::vector<TableRow> read_csv_rows(const std::string& path);

}  // namespace zt::data
