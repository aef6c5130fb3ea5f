#include "data/chunk_index.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/check.h"
#include "data/rng.h"

namespace zt::data {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kRowsPerTableChunk = 256;

bool is_blank_char(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

bool is_blank_text(const std::string& text) { return std::all_of(text.begin(), text.end(), is_blank_char); }

ChunkIndex::ChunkIndex(std::vector<DatasetSource> sources, const ReaderOptions& options, const ExchangeFn& exchange)
    : options_(options), sources_(std::move(sources)) {
  open_files();
  cut_chunks();
  build_index(exchange);
  select_rows();
}

ChunkIndex::~ChunkIndex() {
  for (DataFile& file : files_)
    if (file.fd >= 0) ::close(file.fd);
}

size_t ChunkIndex::read_bytes(const DataFile& file, uint64_t offset, size_t length, char* out) const {
  size_t done = 0;
  while (done < length) {
    ssize_t got = ::pread(file.fd, out + done, length - done, static_cast<off_t>(offset + done));
    ZT_REQUIRE(got >= 0, file.path << ": read failed at byte " << offset + done << " (" << std::strerror(errno) << ")");
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

// Reads the jsonl line starting at `offset` (without its newline).
std::string ChunkIndex::read_line_at(const DataFile& file, uint64_t offset) const {
  std::string line;
  char buffer[65536];
  while (offset < file.size) {
    size_t got = read_bytes(file, offset, std::min<uint64_t>(sizeof(buffer), file.size - offset), buffer);
    if (got == 0) break;
    const char* newline = static_cast<const char*>(std::memchr(buffer, '\n', got));
    size_t take = newline != nullptr ? static_cast<size_t>(newline - buffer) : got;
    line.append(buffer, take);
    if (newline != nullptr) break;
    offset += got;
  }
  return line;
}

void ChunkIndex::open_files() {
  for (size_t s = 0; s < sources_.size(); ++s) {
    const std::string& path = sources_[s].path;
    ZT_REQUIRE(fs::exists(path), path << ": dataset file not found (a --dataset entry must be an existing "
                                         ".jsonl, .json or .csv file, or a hub id in the local cache)");
    ZT_REQUIRE(!fs::is_directory(path), path << ": is a folder; --dataset takes data files_ (.jsonl, .json, .csv) or a "
                                                "cached hub id: name the files_ inside it");
    ZT_REQUIRE(fs::is_regular_file(path), path << ": not a regular file");
    DataFile file;
    file.path = path;
    file.source = s;
    std::string ext = lower_extension(path);
    if (ext == ".jsonl" || ext == ".jsonlines" || ext == ".ndjson") {
      file.kind = FileKind::jsonl;
      file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      ZT_REQUIRE(file.fd >= 0, path << ": cannot open (" << std::strerror(errno) << ")");
      file.size = static_cast<uint64_t>(fs::file_size(path));
    } else if (ext == ".json") {
      file.kind = FileKind::json_array;
      file.rows = read_json_rows(path);
      file.size = file.rows.size();
    } else if (ext == ".csv") {
      file.kind = FileKind::csv;
      file.rows = read_csv_rows(path);
      file.size = file.rows.size();
    } else {
      ZT_THROW(path << ": unsupported dataset extension '" << ext << "'; use .jsonl, .json or .csv");
    }
    paths_.push_back(path);
    files_.push_back(std::move(file));
  }
}

void ChunkIndex::cut_chunks() {
  uint64_t total_bytes = 0;
  for (const DataFile& file : files_)
    if (file.kind == FileKind::jsonl) total_bytes += file.size;
  uint64_t chunk_bytes = options_.chunk_bytes;
  if (chunk_bytes == 0) chunk_bytes = std::clamp<uint64_t>(total_bytes / 4096, 4096, 4u << 20);
  for (uint32_t f = 0; f < files_.size(); ++f) {
    uint64_t step = files_[f].kind == FileKind::jsonl ? chunk_bytes : kRowsPerTableChunk;
    for (uint64_t begin = 0; begin < files_[f].size; begin += step)
      chunks_.push_back({f, begin, std::min(files_[f].size, begin + step)});
  }
}

// Counts the lines and non-blank lines starting in a jsonl chunk, and where the first one starts.
void ChunkIndex::index_chunk(Chunk& chunk) {
  const DataFile& file = files_[chunk.file];
  if (file.kind != FileKind::jsonl) {
    chunk.first_start = chunk.begin;
    chunk.num_lines = chunk.num_rows = chunk.end - chunk.begin;
    return;
  }
  uint64_t position = chunk.begin == 0 ? 0 : chunk.begin - 1;
  bool at_line_start = chunk.begin == 0;
  bool line_open = false, line_blank = true;  // state of a line that started inside the chunk
  std::vector<char> buffer(kReadBlock);
  while (position < file.size) {
    // Inside the chunk read up to its end; past it, only small steps until its last line's fate is known.
    uint64_t want = position < chunk.end ? chunk.end - position : 512;
    want = std::min<uint64_t>({want, buffer.size(), file.size - position});
    size_t got = read_bytes(file, position, want, buffer.data());
    index_bytes_ += got;
    if (got == 0) break;
    for (size_t i = 0; i < got; ++i, ++position) {
      if (position >= chunk.begin && at_line_start) {
        if (position >= chunk.end) {  // the next line starts in the next chunk: done
          if (line_open && !line_blank) ++chunk.num_rows;
          return;
        }
        if (line_open && !line_blank) ++chunk.num_rows;
        if (chunk.first_start == kNoLine) chunk.first_start = position;
        ++chunk.num_lines;
        line_open = true;
        line_blank = true;
      }
      char c = buffer[i];
      at_line_start = c == '\n';
      if (line_open && !is_blank_char(c)) line_blank = false;
      // Past the chunk, only the blankness of its last line is still open.
      if (position >= chunk.end && line_open && (!line_blank || c == '\n')) {
        if (!line_blank) ++chunk.num_rows;
        return;
      }
      if (position >= chunk.end && !line_open) return;
    }
  }
  if (line_open && !line_blank) ++chunk.num_rows;
}

void ChunkIndex::build_index(const ExchangeFn& exchange) {
  std::vector<uint64_t> mine;
  for (uint64_t c = 0; c < chunks_.size(); ++c) {
    bool local = files_[chunks_[c].file].kind != FileKind::jsonl;
    if (local || static_cast<int>(c % static_cast<uint64_t>(options_.world_size)) == options_.rank) {
      index_chunk(chunks_[c]);
      if (!local) mine.insert(mine.end(), {c, chunks_[c].first_start, chunks_[c].num_lines, chunks_[c].num_rows});
    }
  }
  std::vector<uint64_t> all = exchange(mine);
  ZT_CHECK(all.size() % 4 == 0, "index exchange returned " << all.size() << " values");
  for (size_t i = 0; i < all.size(); i += 4) {
    ZT_CHECK(all[i] < chunks_.size(), "index exchange names chunk " << all[i]);
    Chunk& chunk = chunks_[all[i]];
    chunk.first_start = all[i + 1];
    chunk.num_lines = all[i + 2];
    chunk.num_rows = all[i + 3];
  }
  // Line numbers per file, global row numbers, and where each chunk's last line ends.
  uint64_t row = 0;
  for (size_t c = 0; c < chunks_.size(); ++c) {
    Chunk& chunk = chunks_[c];
    bool first_of_file = c == 0 || chunks_[c - 1].file != chunk.file;
    chunk.first_line = first_of_file ? 1 : chunks_[c - 1].first_line + chunks_[c - 1].num_lines;
    chunk.first_row = row;
    row += chunk.num_rows;
    chunk.aligned_end = files_[chunk.file].size;
    for (size_t next = c + 1; next < chunks_.size() && chunks_[next].file == chunk.file; ++next)
      if (chunks_[next].first_start != kNoLine) {
        chunk.aligned_end = chunks_[next].first_start;
        break;
      }
  }
}

// ---- selection: #N sampling and the validation split ----
void ChunkIndex::select_rows() {
  uint64_t row = 0;
  size_t chunk = 0;
  for (size_t s = 0; s < sources_.size(); ++s) {
    SourceSelection selection;
    selection.row_begin = row;
    for (; chunk < chunks_.size() && files_[chunks_[chunk].file].source == s; ++chunk) row += chunks_[chunk].num_rows;
    selection.row_end = row;
    uint64_t population = selection.row_end - selection.row_begin;
    ZT_REQUIRE(population > 0, sources_[s].path << ": the dataset has no rows");
    if (sources_[s].sample_count.has_value()) {
      uint64_t wanted = *sources_[s].sample_count;
      Rng rng(Rng::mix(options_.data_seed, 1000 + s));
      uint64_t whole = wanted / population, extra = wanted % population;
      // Floyd's algorithm: `extra` distinct rows, uniformly.
      std::unordered_set<uint64_t> chosen;
      for (uint64_t j = population - extra; j < population; ++j) {
        uint64_t pick = rng.below(j + 1);
        if (!chosen.insert(pick).second) chosen.insert(j);
      }
      selection.all = false;
      if (whole > 0)
        for (uint64_t r = 0; r < population; ++r) selection.picks.push_back({selection.row_begin + r, whole});
      for (uint64_t pick : chosen) {
        auto it = std::lower_bound(selection.picks.begin(), selection.picks.end(),
                                   std::make_pair(selection.row_begin + pick, uint32_t{0}));
        if (it != selection.picks.end() && it->first == selection.row_begin + pick) ++it->second;
        else selection.picks.insert(it, {selection.row_begin + pick, 1});
      }
    }
    selections_.push_back(std::move(selection));
  }

  uint64_t total = 0;
  for (const SourceSelection& selection : selections_) {
    if (selection.all) total += selection.row_end - selection.row_begin;
    else for (const auto& pick : selection.picks) total += pick.second;
  }
  if (options_.split_ratio > 0) {
    ZT_REQUIRE(options_.split_ratio < 1, "--split_dataset_ratio must be below 1, got " << options_.split_ratio);
    uint64_t val_size = std::max<uint64_t>(static_cast<uint64_t>(static_cast<double>(total) * options_.split_ratio), 1);
    std::vector<uint64_t> distinct;
    for (const SourceSelection& selection : selections_) {
      if (selection.all) for (uint64_t r = selection.row_begin; r < selection.row_end; ++r) distinct.push_back(r);
      else for (const auto& pick : selection.picks) distinct.push_back(pick.first);
    }
    ZT_REQUIRE(val_size < distinct.size(), "--split_dataset_ratio " << options_.split_ratio << " leaves no training rows");
    Rng rng(Rng::mix(options_.data_seed, 0x5911));
    for (uint64_t i = 0; i < val_size; ++i) std::swap(distinct[i], distinct[i + rng.below(distinct.size() - i)]);
    validation_.assign(distinct.begin(), distinct.begin() + static_cast<long>(val_size));
    std::sort(validation_.begin(), validation_.end());
    for (uint64_t r : validation_) total -= copies_before_split(r);
  }
  train_rows_ = total;
}

uint32_t ChunkIndex::copies_before_split(uint64_t row) const {
  for (const SourceSelection& selection : selections_) {
    if (row < selection.row_begin || row >= selection.row_end) continue;
    if (selection.all) return 1;
    auto it = std::lower_bound(selection.picks.begin(), selection.picks.end(), std::make_pair(row, uint32_t{0}));
    return it != selection.picks.end() && it->first == row ? it->second : 0;
  }
  return 0;
}

uint32_t ChunkIndex::copies(uint64_t row) const {
  if (!validation_.empty() && std::binary_search(validation_.begin(), validation_.end(), row)) return 0;
  return copies_before_split(row);
}

std::vector<uint64_t> ChunkIndex::chunks_dealt(uint32_t epoch, int rank, int world) const {
  std::vector<uint64_t> order(chunks_.size());
  for (uint64_t c = 0; c < chunks_.size(); ++c) order[c] = c;
  if (options_.shuffle) {
    Rng shuffle_rng(Rng::mix(options_.data_seed, epoch));
    for (uint64_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle_rng.below(i)]);
  }
  std::vector<uint64_t> out;
  for (uint64_t k = static_cast<uint64_t>(rank); k < order.size(); k += static_cast<uint64_t>(world))
    if (chunks_[order[k]].first_start != kNoLine) out.push_back(order[k]);
  return out;
}

RawRow ChunkIndex::reread(const RowRef& ref) const {
  const DataFile& file = files_.at(ref.file);
  RawRow row;
  row.ref = ref;
  if (file.kind == FileKind::jsonl) {
    row.text = read_line_at(file, ref.offset);
  } else {
    row.value = file.rows.at(ref.offset);
    row.text = row.value->dump();
  }
  return row;
}

}  // namespace zt::data
