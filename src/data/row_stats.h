// Counting what happened to the rows of an epoch, so that nothing is dropped silently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/conversation.h"

namespace zt::data {

struct RowStats {
  static constexpr size_t kMaxReports = 5;
  uint64_t rows_read = 0;
  uint64_t rows_used = 0;
  uint64_t rows_truncated = 0;  // kept, cut to max_length (truncation_strategy left/right)
  std::array<uint64_t, static_cast<size_t>(RowIssue::count_)> skipped{};
  std::vector<std::string> reports;  // the first few "file:line: reason (detail)"

  void skip(RowIssue issue, const std::string& report);
  uint64_t rows_skipped() const;
  // "rows read 300, used 297, skipped 3 (malformed JSON 2, no assistant reply 1), truncated 0"
  std::string summary() const;
  // Flat form for summing over ranks, and back.
  std::vector<uint64_t> to_counts() const;
  void add_counts(const std::vector<uint64_t>& counts);
};

}  // namespace zt::data
