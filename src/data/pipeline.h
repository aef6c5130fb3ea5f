// One rank's training data: rows from the ShardReader, converted, encoded with the chat template,
// truncated, and packed (or passed one per row). Bad rows are skipped and counted (or, with --strict
// true, the first one is an error naming file:line). The whole state can be saved as a cursor and
// restored so that a resumed run sees exactly the rows an uninterrupted one would have.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/chat_template.h"
#include "data/formats.h"
#include "data/packing.h"
#include "data/row_stats.h"
#include "data/shard_reader.h"

namespace zt::data {

enum class Truncation { delete_, left, right };
const std::vector<std::string>& enum_names(Truncation);  // --truncation_strategy's: delete, left, right

struct PipelineOptions {
  FormatOptions format;
  LossScale loss_scale = LossScale::default_;
  int32_t max_length = 2048;
  Truncation truncation = Truncation::delete_;
  bool packing = false;
  int32_t packing_length = 0;     // 0: max_length
  size_t packing_buffer = 1000;   // samples per best-fit-decreasing round
  bool strict = false;
};

struct PipelineCursor {
  ReaderCursor reader;
  bool reader_done = false;
  std::vector<std::vector<RowRef>> ready_rows;
  std::vector<RowRef> packer_buffer;
  uint64_t packed_tokens = 0, packed_rows = 0;
  std::vector<uint64_t> stats;
  nlohmann::json to_json() const;
  static PipelineCursor from_json(const nlohmann::json& json);
};

class DataPipeline {
 public:
  DataPipeline(ShardReader& reader, const ChatTemplate& chat_template, PipelineOptions options);

  void start_epoch(uint32_t epoch);
  // The next row of this rank's share; nullopt once the epoch is done here (the epoch's data summary is
  // logged then: rows read, used, skipped by reason, truncated, pack fill ratio, the first bad rows).
  std::optional<PackedRow> next();

  const RowStats& stats() const { return stats_; }
  std::optional<double> fill_ratio() const;  // packing only
  PipelineCursor cursor() const;
  void restore(const PipelineCursor& cursor);
  // Continues the epoch a run with another number of ranks stopped in, from all its ranks' cursors (in
  // rank order): every row none of them had used is dealt among this run's ranks (ShardReader::redeal),
  // the rows their packers held included. Rank 0 carries the old ranks' row counts.
  void redeal(const std::vector<PipelineCursor>& cursors, int rank);

  // Converts and encodes one row (no counting); nullopt with the reason when it would be skipped.
  std::optional<SampleWithSource> encode(const RawRow& row, RowIssue* issue = nullptr, std::string* detail = nullptr,
                                         bool* truncated = nullptr) const;

 private:
  std::optional<PackedRow> next_row();
  std::optional<SampleWithSource> next_sample();
  std::optional<std::string> first_bad_row_in_file_order() const;
  std::string where(const RowRef& ref) const;

  ShardReader& reader_;
  const ChatTemplate& template_;
  PipelineOptions options_;
  std::unique_ptr<Packer> packer_;
  bool reader_done_ = false;
  bool epoch_reported_ = false;
  RowStats stats_;
};

}  // namespace zt::data
