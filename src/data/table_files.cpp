#include "data/table_files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "data/utf8.h"

namespace zt::data {
namespace {

using json = nlohmann::json;

// RFC 4180 CSV: a header row, then records; "" escapes a quote inside quoted fields. Empty fields are null.
std::vector<TableRow> parse_csv(const std::string& path, const std::string& text) {
  std::vector<std::vector<std::string>> records;
  std::vector<bool> quoted_empty;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, field_quoted = false;
  uint64_t line = 1;
  auto end_field = [&] {
    record.push_back(field);
    field.clear();
    field_quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') field.push_back(text[++i]);
        else in_quotes = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
    } else if (c == '"' && field.empty()) {
      in_quotes = field_quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_field();
      if (!(record.size() == 1 && record[0].empty())) records.push_back(record);
      record.clear();
    } else {
      field.push_back(c);
    }
  }
  ZT_REQUIRE(!in_quotes, path << ": unterminated quoted field (started before line " << line << ")");
  if (!field.empty() || !record.empty()) {
    end_field();
    records.push_back(record);
  }
  ZT_REQUIRE(!records.empty(), path << ": the CSV file has no header row");
  const std::vector<std::string>& header = records[0];
  for (const std::string& name : header)
    ZT_REQUIRE(is_valid_utf8(name), path << ": the header has a column name that is not valid UTF-8");
  std::vector<TableRow> rows;
  for (size_t r = 1; r < records.size(); ++r) {
    ZT_REQUIRE(records[r].size() == header.size(), path << ": row " << r + 1 << " has " << records[r].size()
                                                        << " fields but the header has " << header.size());
    auto row = std::make_shared<json>(json::object());
    for (size_t k = 0; k < header.size(); ++k) {
      ZT_REQUIRE(is_valid_utf8(records[r][k]), path << ": row " << r + 1 << ", column '" << header[k]
                                                    << "' is not valid UTF-8 (save the file as UTF-8)");
      (*row)[header[k]] = records[r][k].empty() ? json() : json(records[r][k]);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string read_whole(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  ZT_REQUIRE(stream.good(), path << ": cannot open (" << std::strerror(errno) << ")");
  std::ostringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

}  // namespace

std::vector<TableRow> read_json_rows(const std::string& path) {
  json parsed;
  try {
    parsed = json::parse(read_whole(path));
  } catch (const json::exception& error) {
    ZT_THROW(path << ": not valid JSON (" << error.what() << "); a .json dataset must be one list of rows");
  }
  ZT_REQUIRE(parsed.is_array(), path << ": a .json dataset must be a list of rows (use .jsonl for one row per line)");
  std::vector<TableRow> rows;
  rows.reserve(parsed.size());
  for (json& row : parsed) rows.push_back(std::make_shared<const json>(std::move(row)));
  return rows;
}

std::vector<TableRow> read_csv_rows(const std::string& path) { return parse_csv(path, read_whole(path)); }

}  // namespace zt::data
