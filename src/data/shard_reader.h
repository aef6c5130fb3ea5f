// Sharded, resumable reading of dataset files: each rank reads only its own byte ranges.
//
// Every file is cut into chunks of a size that depends only on the corpus (never on the world size).
// An index pass, split over the ranks, counts the lines and rows (non-blank lines) that start in each
// chunk; the counts are exchanged (`exchange`, an all-gather supplied by the caller) so every rank knows
// each chunk's global row numbers without reading it. Each epoch the chunks are permuted from
// (data_seed, epoch) and dealt round-robin to the ranks; a rank streams its chunks' lines (a line belongs
// to the chunk its first byte lies in) through a shuffle buffer. Over one epoch every selected row is
// yielded exactly once by exactly one rank.
//
// .json (a list of rows) and .csv files cannot be split by bytes: each rank parses them whole and takes
// its share of their rows by the same chunk dealing (chunks of 256 rows).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zt::data {

// All-gather of one uint64 vector per rank: given this rank's vector, returns the concatenation over
// ranks in rank order. A single process passes its input back.
using ExchangeFn = std::function<std::vector<uint64_t>(const std::vector<uint64_t>&)>;

struct DatasetSource {
  std::string path;
  std::optional<uint64_t> sample_count;  // the #N of "file.jsonl#N"
  std::optional<bool> use_hf;            // "hf::" (true) or "ms::" (false) before a hub id, in either case
};

struct ReaderOptions {
  int rank = 0;
  int world_size = 1;
  bool shuffle = true;               // --dataset_shuffle
  uint32_t shuffle_buffer_size = 1000;
  uint64_t data_seed = 42;
  double split_ratio = 0.0;          // --split_dataset_ratio: rows held out for validation
  uint64_t chunk_bytes = 0;          // 0: chosen from the corpus size
};

// Where a row lives; enough to read it again.
struct RowRef {
  uint32_t file = 0;
  uint64_t offset = 0;   // byte offset of the line (jsonl) or row index (json/csv)
  uint64_t row = 0;      // global row index (selection and splits are defined on it)
  uint64_t line = 0;     // 1-based line number in its file (jsonl) or row number (json/csv)
};

struct RawRow {
  RowRef ref;
  std::string text;  // the JSON text of the row
  // .json/.csv rows: the row as the file was parsed (read once); the pipeline converts it without parsing
  // `text` again. Null for .jsonl lines.
  std::shared_ptr<const nlohmann::json> value;
};

// Row references as JSON arrays [file, offset, row, line] (data cursors); from_json throws json errors.
nlohmann::json row_refs_to_json(const std::vector<RowRef>& refs);
std::vector<RowRef> row_refs_from_json(const nlohmann::json& value);

// A chunk a rank was dealt, and where reading starts in it when not at its beginning (the unread tail of
// a chunk another run stopped in).
struct DealtChunk {
  uint64_t chunk = 0;
  bool has_start = false;
  uint64_t offset = 0, line = 0, row = 0;
};

// Everything needed to continue an epoch exactly where it stopped.
struct ReaderCursor {
  uint32_t epoch = 0;
  uint64_t chunk_position = 0;  // index into this rank's chunk list
  bool chunk_started = false;
  uint64_t chunk_offset = 0;    // next line start (byte, or row of a table file) inside that chunk
  uint64_t next_line = 0;       // its line number
  uint64_t next_row = 0;        // its global row index
  uint64_t rng_state = 0;
  std::vector<RowRef> buffer;   // rows in the shuffle buffer, re-read on restore
  bool exhausted = false;
  bool redealt = false;            // false: the epoch's usual dealing of chunks
  std::vector<DealtChunk> dealt;   // when redealt: this rank's chunks (ShardReader::redeal)
  nlohmann::json to_json() const;
  static ReaderCursor from_json(const nlohmann::json& json);
};

// What the reader did, for tests: bytes read and the chunks this rank was dealt.
struct ReaderIo {
  uint64_t index_bytes = 0;   // read by the index pass
  uint64_t stream_bytes = 0;  // read while streaming rows
  std::vector<std::pair<uint64_t, uint64_t>> stream_ranges;  // [begin, end) per read, file-local offsets
  std::vector<uint32_t> stream_files;                        // file of each range
};

class ShardReader {
 public:
  // Opens and indexes the sources. A missing or unreadable file, or one with an unsupported extension,
  // is a zt::Error naming it. `exchange` must be called by every rank (it is collective).
  ShardReader(std::vector<DatasetSource> sources, ReaderOptions options, const ExchangeFn& exchange);
  ~ShardReader();
  ShardReader(ShardReader&&) noexcept;
  ShardReader& operator=(ShardReader&&) noexcept;

  // Starts epoch `epoch` from its beginning.
  void start_epoch(uint32_t epoch);
  // The next row of this rank's share, or nullopt when the epoch is over for this rank.
  std::optional<RawRow> next();

  // Reads one row again by its reference (restoring buffered state).
  RawRow read_row(const RowRef& ref) const;

  ReaderCursor cursor() const;
  void restore(const ReaderCursor& cursor);

  // Continues the epoch that a run with another number of ranks stopped in. `cursors` holds that run's
  // cursor of every rank (in rank order); `pending` rows had been read but not yet used (the caller's
  // buffers). What no old rank had read — chunks none of them started, the unread tails of the chunks
  // they were in, their shuffle buffers and `pending` — is dealt among this run's ranks, so over all
  // ranks every row of the epoch is used exactly once across the two runs.
  void redeal(const std::vector<ReaderCursor>& cursors, const std::vector<RowRef>& pending);

  // Rows of the training selection over all ranks in one epoch (after #N sampling and the split).
  uint64_t num_train_rows() const;
  // The held-out validation rows (split_ratio > 0), read on demand; same on every rank.
  std::vector<RawRow> read_validation_rows() const;
  const std::vector<std::string>& file_paths() const;
  const ReaderIo& io() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// "[HF::|MS::]path_or_id[:subset][#N]" -> path and N. An existing path is never split.
DatasetSource parse_dataset_spec(const std::string& spec);

}  // namespace zt::data
