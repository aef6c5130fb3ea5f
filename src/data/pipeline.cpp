#include "data/pipeline.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/log.h"

namespace zt::data {
using nlohmann::json;

const std::vector<std::string>& enum_names(Truncation) {
  static const std::vector<std::string> names = {"delete", "left", "right"};
  return names;
}

DataPipeline::DataPipeline(ShardReader& reader, const ChatTemplate& chat_template, PipelineOptions options)
    : reader_(reader), template_(chat_template), options_(std::move(options)) {
  ZT_REQUIRE(options_.max_length > 0, "--max_length must be positive, got " << options_.max_length);
  if (options_.packing_length <= 0) options_.packing_length = options_.max_length;
  ZT_REQUIRE(options_.packing_length >= options_.max_length || !options_.packing,
             "--packing_length " << options_.packing_length << " is shorter than --max_length " << options_.max_length);
  if (options_.packing) packer_ = std::make_unique<Packer>(options_.packing_length, options_.packing_buffer);
}

std::string DataPipeline::where(const RowRef& ref) const {
  return reader_.file_paths().at(ref.file) + ":" + std::to_string(ref.line);
}

void DataPipeline::start_epoch(uint32_t epoch) {
  reader_.start_epoch(epoch);
  reader_done_ = false;
  epoch_reported_ = false;
  stats_ = RowStats();
  if (options_.packing) packer_ = std::make_unique<Packer>(options_.packing_length, options_.packing_buffer);
}

std::optional<SampleWithSource> DataPipeline::encode(const RawRow& row, RowIssue* issue, std::string* detail,
                                                     bool* truncated) const {
  ConvertResult converted = row.value ? convert_row(*row.value, options_.format) : convert_line(row.text, options_.format);
  if (!converted.ok()) {
    if (issue != nullptr) *issue = *converted.issue;
    if (detail != nullptr) *detail = converted.detail;
    return std::nullopt;
  }
  SampleWithSource out{{}, row.ref};
  try {
    out.sample = template_.encode(converted.conversation, options_.loss_scale);
  } catch (const zt::Error& error) {  // a Jinja template that raises or fails on this row: the row's issue
    if (issue != nullptr) *issue = RowIssue::template_error;
    if (detail != nullptr) *detail = error.what();
    return std::nullopt;
  }
  auto length = static_cast<int32_t>(out.sample.input_ids.size());
  if (length > options_.max_length) {
    if (options_.truncation == Truncation::delete_) {
      if (issue != nullptr) *issue = RowIssue::over_max_length;
      if (detail != nullptr) *detail = std::to_string(length) + " tokens > max_length " + std::to_string(options_.max_length);
      return std::nullopt;
    }
    auto keep = [&](std::vector<int32_t>& values) {
      if (options_.truncation == Truncation::left) values.erase(values.begin(), values.end() - options_.max_length);
      else values.resize(static_cast<size_t>(options_.max_length));
    };
    keep(out.sample.input_ids);
    keep(out.sample.labels);
    if (truncated != nullptr) *truncated = true;
  }
  return out;
}

// ms-swift preprocesses the whole dataset before shuffling, so --strict reports the first bad row in file order;
// the rows are read in shuffled order here, so on a failure the .jsonl files are scanned from the top.
std::optional<std::string> DataPipeline::first_bad_row_in_file_order() const {
  const std::vector<std::string>& paths = reader_.file_paths();
  for (size_t file = 0; file < paths.size(); ++file) {
    if (paths[file].size() < 6 || paths[file].compare(paths[file].size() - 6, 6, ".jsonl") != 0) return std::nullopt;
    std::ifstream in(paths[file], std::ios::binary);
    RawRow row;
    row.ref.file = static_cast<uint32_t>(file);
    for (uint64_t line = 1; std::getline(in, row.text); ++line) {
      if (row.text.find_first_not_of(" \t\r") == std::string::npos) continue;
      row.ref.line = line;
      RowIssue issue = RowIssue::count_;
      std::string detail;
      if (!encode(row, &issue, &detail, nullptr).has_value())
        return where(row.ref) + ": " + row_issue_name(issue) + " (" + detail + ")";
    }
  }
  return std::nullopt;
}

std::optional<SampleWithSource> DataPipeline::next_sample() {
  while (std::optional<RawRow> row = reader_.next()) {
    ++stats_.rows_read;
    RowIssue issue = RowIssue::count_;
    std::string detail;
    bool truncated = false;
    std::optional<SampleWithSource> sample = encode(*row, &issue, &detail, &truncated);
    if (!sample.has_value()) {
      std::string report = where(row->ref) + ": " + row_issue_name(issue) + " (" + detail + ")";
      if (options_.strict) report = first_bad_row_in_file_order().value_or(report);
      ZT_REQUIRE(!options_.strict, report << "; fix the row, or run with --strict false to skip and count bad rows");
      stats_.skip(issue, report);
      continue;
    }
    ++stats_.rows_used;
    if (truncated) ++stats_.rows_truncated;
    return sample;
  }
  return std::nullopt;
}

std::optional<PackedRow> DataPipeline::next() {
  std::optional<PackedRow> row = next_row();
  if (!row.has_value() && !epoch_reported_) {
    epoch_reported_ = true;
    std::string fill = packer_ ? ", pack fill ratio " + std::to_string(packer_->fill_ratio()) : "";
    ZT_LOG_INFO("data, epoch " << reader_.cursor().epoch << " (this rank): " << stats_.summary() << fill);
    for (const std::string& report : stats_.reports) ZT_LOG_WARN("skipped " << report);
  }
  return row;
}

std::optional<PackedRow> DataPipeline::next_row() {
  if (!options_.packing) {
    std::optional<SampleWithSource> sample = next_sample();
    if (!sample.has_value()) return std::nullopt;
    return single_row(std::move(*sample));
  }
  while (true) {
    if (std::optional<PackedRow> row = packer_->pop()) return row;
    if (reader_done_) return std::nullopt;
    std::optional<SampleWithSource> sample = next_sample();
    if (sample.has_value()) {
      packer_->push(std::move(*sample));
    } else {
      reader_done_ = true;
      packer_->finish();
    }
  }
}

std::optional<double> DataPipeline::fill_ratio() const {
  if (!packer_) return std::nullopt;
  return packer_->fill_ratio();
}

PipelineCursor DataPipeline::cursor() const {
  PipelineCursor cursor;
  cursor.reader = reader_.cursor();
  cursor.reader_done = reader_done_;
  if (packer_) {
    cursor.ready_rows = packer_->ready_sources();
    cursor.packer_buffer = packer_->buffer_sources();
    cursor.packed_tokens = packer_->tokens_emitted();
    cursor.packed_rows = packer_->rows_emitted();
  }
  cursor.stats = stats_.to_counts();
  return cursor;
}

void DataPipeline::restore(const PipelineCursor& cursor) {
  start_epoch(cursor.reader.epoch);
  reader_.restore(cursor.reader);
  reader_done_ = cursor.reader_done;
  stats_ = RowStats();
  stats_.add_counts(cursor.stats);
  if (!packer_) return;
  auto reencode = [&](const RowRef& ref) {
    std::optional<SampleWithSource> sample = encode(reader_.read_row(ref));
    ZT_REQUIRE(sample.has_value(), where(ref) << ": the row held in the data cursor no longer encodes; "
                                                 "was the dataset changed since the checkpoint?");
    return std::move(*sample);
  };
  std::vector<std::vector<SampleWithSource>> ready;
  for (const auto& row : cursor.ready_rows) {
    ready.emplace_back();
    for (const RowRef& ref : row) ready.back().push_back(reencode(ref));
  }
  std::vector<SampleWithSource> buffer;
  for (const RowRef& ref : cursor.packer_buffer) buffer.push_back(reencode(ref));
  packer_->restore(std::move(ready), std::move(buffer), cursor.packed_tokens, cursor.packed_rows);
}

void DataPipeline::redeal(const std::vector<PipelineCursor>& cursors, int rank) {
  ZT_REQUIRE(!cursors.empty(), "redeal needs the cursors of the run that stopped");
  start_epoch(cursors[0].reader.epoch);
  std::vector<ReaderCursor> readers;
  std::vector<RowRef> pending;  // encoded and counted once already, not yet in a training row
  for (const PipelineCursor& cursor : cursors) {
    readers.push_back(cursor.reader);
    for (const auto& row : cursor.ready_rows) pending.insert(pending.end(), row.begin(), row.end());
    pending.insert(pending.end(), cursor.packer_buffer.begin(), cursor.packer_buffer.end());
  }
  reader_.redeal(readers, pending);
  reader_done_ = false;
  stats_ = RowStats();
  if (rank != 0) return;
  for (const PipelineCursor& cursor : cursors) stats_.add_counts(cursor.stats);
  // The pending rows are read and counted again where they land.
  stats_.rows_read -= std::min<uint64_t>(stats_.rows_read, pending.size());
  stats_.rows_used -= std::min<uint64_t>(stats_.rows_used, pending.size());
}

json PipelineCursor::to_json() const {
  json ready = json::array();
  for (const auto& row : ready_rows) ready.push_back(row_refs_to_json(row));
  return {{"reader", reader.to_json()}, {"reader_done", reader_done}, {"ready_rows", ready},
          {"packer_buffer", row_refs_to_json(packer_buffer)}, {"packed_tokens", packed_tokens},
          {"packed_rows", packed_rows}, {"stats", stats}};
}

PipelineCursor PipelineCursor::from_json(const json& value) {
  PipelineCursor cursor;
  try {
    cursor.reader = ReaderCursor::from_json(value.at("reader"));
    cursor.reader_done = value.at("reader_done").get<bool>();
    for (const json& row : value.at("ready_rows")) cursor.ready_rows.push_back(row_refs_from_json(row));
    cursor.packer_buffer = row_refs_from_json(value.at("packer_buffer"));
    cursor.packed_tokens = value.at("packed_tokens").get<uint64_t>();
    cursor.packed_rows = value.at("packed_rows").get<uint64_t>();
    cursor.stats = value.at("stats").get<std::vector<uint64_t>>();
  } catch (const json::exception& error) {
    ZT_THROW("data cursor is malformed (" << error.what() << ")");
  }
  return cursor;
}

}  // namespace zt::data
