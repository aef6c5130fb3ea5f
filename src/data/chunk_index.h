// The index the shard reader deals from (data/shard_reader.h tells the scheme): a corpus's files opened once,
// cut into chunks by bytes (.jsonl) or by rows (.json, .csv: data/table_files.h), each chunk's lines and rows
// counted by one rank and exchanged, the #N sampling and the validation split chosen, and the chunks each
// rank is dealt in an epoch. Internal to data/: the reader streams from it, nothing else reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "data/shard_reader.h"
#include "data/table_files.h"

namespace zt::data {

constexpr uint64_t kNoLine = ~uint64_t{0};
// Bytes one read of a .jsonl file asks for, indexing or streaming.
constexpr size_t kReadBlock = 1 << 18;

enum class FileKind { jsonl, json_array, csv };

struct DataFile {
  std::string path;
  FileKind kind = FileKind::jsonl;
  uint64_t size = 0;                // bytes (jsonl) or rows (json/csv)
  int fd = -1;                      // jsonl only
  std::vector<TableRow> rows;       // json/csv: every row, parsed once
  size_t source = 0;
};

struct Chunk {
  uint32_t file = 0;
  uint64_t begin = 0, end = 0;      // nominal range (bytes or rows)
  uint64_t first_start = kNoLine;   // first line start inside [begin, end)
  uint64_t aligned_end = 0;         // where the last line starting here ends (next chunk's first start)
  uint64_t num_lines = 0, num_rows = 0;
  uint64_t first_line = 1;          // 1-based line number of first_start in its file
  uint64_t first_row = 0;           // global row index of the first non-blank line
};

// Row selection of one source: all rows once, or the picks of #N sampling.
struct SourceSelection {
  uint64_t row_begin = 0, row_end = 0;
  bool all = true;
  std::vector<std::pair<uint64_t, uint32_t>> picks;  // sorted (row, copies) when !all
};

// Spaces, tabs and line ends only: not a row.
bool is_blank_text(const std::string& text);

class ChunkIndex {
 public:
  // Opens and indexes the sources; `exchange` is collective (every rank calls it). A missing or unreadable
  // file, one with an unsupported extension, or a source without rows is a zt::Error naming it.
  ChunkIndex(std::vector<DatasetSource> sources, const ReaderOptions& options, const ExchangeFn& exchange);
  ~ChunkIndex();  // closes the .jsonl files
  ChunkIndex(const ChunkIndex&) = delete;
  ChunkIndex& operator=(const ChunkIndex&) = delete;

  const ReaderOptions& options() const { return options_; }
  const std::vector<DataFile>& files() const { return files_; }
  const std::vector<std::string>& paths() const { return paths_; }
  const std::vector<Chunk>& chunks() const { return chunks_; }
  uint64_t train_rows() const { return train_rows_; }
  const std::vector<uint64_t>& validation() const { return validation_; }  // sorted global rows held out
  uint64_t index_bytes() const { return index_bytes_; }                     // read by the index pass

  // How many times the epoch yields global row `row` (0: not selected, or held out for validation).
  uint32_t copies(uint64_t row) const;
  // The non-empty chunks rank `rank` of `world` is dealt in `epoch`: permuted from (data_seed, epoch) when
  // shuffling, then dealt round-robin.
  std::vector<uint64_t> chunks_dealt(uint32_t epoch, int rank, int world) const;
  // Up to `length` bytes of a .jsonl file from `offset`; fewer only at its end.
  size_t read_bytes(const DataFile& file, uint64_t offset, size_t length, char* out) const;
  // One row again by its reference.
  RawRow reread(const RowRef& ref) const;

 private:
  void open_files();
  void cut_chunks();
  void index_chunk(Chunk& chunk);
  void build_index(const ExchangeFn& exchange);
  void select_rows();
  uint32_t copies_before_split(uint64_t row) const;
  std::string read_line_at(const DataFile& file, uint64_t offset) const;

  ReaderOptions options_;
  std::vector<DatasetSource> sources_;
  std::vector<DataFile> files_;
  std::vector<std::string> paths_;
  std::vector<Chunk> chunks_;
  std::vector<SourceSelection> selections_;
  std::vector<uint64_t> validation_;
  uint64_t train_rows_ = 0;
  uint64_t index_bytes_ = 0;
};

}  // namespace zt::data
