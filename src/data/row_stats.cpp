#include "data/row_stats.h"

#include <sstream>

#include "core/check.h"

namespace zt::data {

void RowStats::skip(RowIssue issue, const std::string& report) {
  ++skipped[static_cast<size_t>(issue)];
  if (reports.size() < kMaxReports) reports.push_back(report);
}

uint64_t RowStats::rows_skipped() const {
  uint64_t total = 0;
  for (uint64_t count : skipped) total += count;
  return total;
}

std::string RowStats::summary() const {
  std::ostringstream out;
  out << "rows read " << rows_read << ", used " << rows_used << ", skipped " << rows_skipped();
  std::string reasons;
  for (size_t i = 0; i < skipped.size(); ++i)
    if (skipped[i] > 0)
      reasons += (reasons.empty() ? "" : ", ") + std::string(row_issue_name(static_cast<RowIssue>(i))) + " " +
                 std::to_string(skipped[i]);
  if (!reasons.empty()) out << " (" << reasons << ")";
  out << ", truncated " << rows_truncated;
  return out.str();
}

std::vector<uint64_t> RowStats::to_counts() const {
  std::vector<uint64_t> counts = {rows_read, rows_used, rows_truncated};
  counts.insert(counts.end(), skipped.begin(), skipped.end());
  return counts;
}

void RowStats::add_counts(const std::vector<uint64_t>& counts) {
  ZT_CHECK(counts.size() == 3 + skipped.size(), "row stats of " << counts.size() << " counts");
  rows_read += counts[0];
  rows_used += counts[1];
  rows_truncated += counts[2];
  for (size_t i = 0; i < skipped.size(); ++i) skipped[i] += counts[3 + i];
}

}  // namespace zt::data
