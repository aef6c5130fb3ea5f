#include "data/shard_reader.h"

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
#include "data/table_files.h"

namespace zt::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kNoLine = ~uint64_t{0};
constexpr uint64_t kRowsPerTableChunk = 256;
constexpr size_t kReadBlock = 1 << 18;

enum class FileKind { jsonl, json_array, csv };

struct FileInfo {
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

bool is_blank_char(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace

struct ShardReader::Impl {
  ReaderOptions options;
  std::vector<DatasetSource> sources;
  std::vector<FileInfo> files;
  std::vector<std::string> paths;
  std::vector<Chunk> chunks;
  std::vector<SourceSelection> selections;
  std::vector<uint64_t> validation;  // sorted global rows held out
  uint64_t train_rows = 0;
  ReaderIo io;

  // Streaming state.
  uint32_t epoch = 0;
  std::vector<uint64_t> my_chunks;
  bool redealt = false;                 // set by redeal: my_chunks come from custom_deal
  std::vector<DealtChunk> custom_deal;  // my_chunks with their starting points
  uint64_t chunk_position = 0;
  bool chunk_started = false;
  uint64_t chunk_offset = 0;  // next line start (bytes) or row to read in the current chunk
  uint64_t next_line = 0, next_row = 0;  // line number and global row index at chunk_offset
  Rng rng;
  std::vector<RawRow> buffer;
  size_t fifo_head = 0;  // first unread item when not shuffling
  std::string block;      // read-ahead of the current chunk
  uint64_t block_start = 0;

  ~Impl() {
    for (FileInfo& file : files)
      if (file.fd >= 0) ::close(file.fd);
  }

  // ---- byte access with accounting ----
  size_t pread_exact(const FileInfo& file, uint64_t offset, size_t length, char* out) const {
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
  std::string read_line_at(const FileInfo& file, uint64_t offset) const {
    std::string line;
    char buffer[65536];
    while (offset < file.size) {
      size_t got = pread_exact(file, offset, std::min<uint64_t>(sizeof(buffer), file.size - offset), buffer);
      if (got == 0) break;
      const char* newline = static_cast<const char*>(std::memchr(buffer, '\n', got));
      size_t take = newline != nullptr ? static_cast<size_t>(newline - buffer) : got;
      line.append(buffer, take);
      if (newline != nullptr) break;
      offset += got;
    }
    return line;
  }

  // ---- opening and indexing ----
  void open_files() {
    for (size_t s = 0; s < sources.size(); ++s) {
      const std::string& path = sources[s].path;
      ZT_REQUIRE(fs::exists(path), path << ": dataset file not found (a --dataset entry must be an existing "
                                           ".jsonl, .json or .csv file, or a hub id in the local cache)");
      ZT_REQUIRE(!fs::is_directory(path), path << ": is a folder; --dataset takes data files (.jsonl, .json, .csv) or a "
                                                  "cached hub id: name the files inside it");
      ZT_REQUIRE(fs::is_regular_file(path), path << ": not a regular file");
      FileInfo file;
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
      paths.push_back(path);
      files.push_back(std::move(file));
    }
  }

  void cut_chunks() {
    uint64_t total_bytes = 0;
    for (const FileInfo& file : files)
      if (file.kind == FileKind::jsonl) total_bytes += file.size;
    uint64_t chunk_bytes = options.chunk_bytes;
    if (chunk_bytes == 0) chunk_bytes = std::clamp<uint64_t>(total_bytes / 4096, 4096, 4u << 20);
    for (uint32_t f = 0; f < files.size(); ++f) {
      uint64_t step = files[f].kind == FileKind::jsonl ? chunk_bytes : kRowsPerTableChunk;
      for (uint64_t begin = 0; begin < files[f].size; begin += step)
        chunks.push_back({f, begin, std::min(files[f].size, begin + step)});
    }
  }

  // Counts the lines and non-blank lines starting in a jsonl chunk, and where the first one starts.
  void index_chunk(Chunk& chunk) {
    const FileInfo& file = files[chunk.file];
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
      size_t got = pread_exact(file, position, want, buffer.data());
      io.index_bytes += got;
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

  void build_index(const ExchangeFn& exchange) {
    std::vector<uint64_t> mine;
    for (uint64_t c = 0; c < chunks.size(); ++c) {
      bool local = files[chunks[c].file].kind != FileKind::jsonl;
      if (local || static_cast<int>(c % static_cast<uint64_t>(options.world_size)) == options.rank) {
        index_chunk(chunks[c]);
        if (!local) mine.insert(mine.end(), {c, chunks[c].first_start, chunks[c].num_lines, chunks[c].num_rows});
      }
    }
    std::vector<uint64_t> all = exchange(mine);
    ZT_CHECK(all.size() % 4 == 0, "index exchange returned " << all.size() << " values");
    for (size_t i = 0; i < all.size(); i += 4) {
      ZT_CHECK(all[i] < chunks.size(), "index exchange names chunk " << all[i]);
      Chunk& chunk = chunks[all[i]];
      chunk.first_start = all[i + 1];
      chunk.num_lines = all[i + 2];
      chunk.num_rows = all[i + 3];
    }
    // Line numbers per file, global row numbers, and where each chunk's last line ends.
    uint64_t row = 0;
    for (size_t c = 0; c < chunks.size(); ++c) {
      Chunk& chunk = chunks[c];
      bool first_of_file = c == 0 || chunks[c - 1].file != chunk.file;
      chunk.first_line = first_of_file ? 1 : chunks[c - 1].first_line + chunks[c - 1].num_lines;
      chunk.first_row = row;
      row += chunk.num_rows;
      chunk.aligned_end = files[chunk.file].size;
      for (size_t next = c + 1; next < chunks.size() && chunks[next].file == chunk.file; ++next)
        if (chunks[next].first_start != kNoLine) {
          chunk.aligned_end = chunks[next].first_start;
          break;
        }
    }
  }

  // ---- selection: #N sampling and the validation split ----
  void select_rows() {
    uint64_t row = 0;
    size_t chunk = 0;
    for (size_t s = 0; s < sources.size(); ++s) {
      SourceSelection selection;
      selection.row_begin = row;
      for (; chunk < chunks.size() && files[chunks[chunk].file].source == s; ++chunk) row += chunks[chunk].num_rows;
      selection.row_end = row;
      uint64_t population = selection.row_end - selection.row_begin;
      ZT_REQUIRE(population > 0, sources[s].path << ": the dataset has no rows");
      if (sources[s].sample_count.has_value()) {
        uint64_t wanted = *sources[s].sample_count;
        Rng rng(Rng::mix(options.data_seed, 1000 + s));
        std::unordered_map<uint64_t, uint32_t> copies;
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
      selections.push_back(std::move(selection));
    }

    uint64_t total = 0;
    for (const SourceSelection& selection : selections) {
      if (selection.all) total += selection.row_end - selection.row_begin;
      else for (const auto& pick : selection.picks) total += pick.second;
    }
    if (options.split_ratio > 0) {
      ZT_REQUIRE(options.split_ratio < 1, "--split_dataset_ratio must be below 1, got " << options.split_ratio);
      uint64_t val_size = std::max<uint64_t>(static_cast<uint64_t>(static_cast<double>(total) * options.split_ratio), 1);
      std::vector<uint64_t> distinct;
      for (const SourceSelection& selection : selections) {
        if (selection.all) for (uint64_t r = selection.row_begin; r < selection.row_end; ++r) distinct.push_back(r);
        else for (const auto& pick : selection.picks) distinct.push_back(pick.first);
      }
      ZT_REQUIRE(val_size < distinct.size(), "--split_dataset_ratio " << options.split_ratio << " leaves no training rows");
      Rng rng(Rng::mix(options.data_seed, 0x5911));
      for (uint64_t i = 0; i < val_size; ++i) std::swap(distinct[i], distinct[i + rng.below(distinct.size() - i)]);
      validation.assign(distinct.begin(), distinct.begin() + static_cast<long>(val_size));
      std::sort(validation.begin(), validation.end());
      for (uint64_t r : validation) total -= copies_before_split(r);
    }
    train_rows = total;
  }

  uint32_t copies_before_split(uint64_t row) const {
    for (const SourceSelection& selection : selections) {
      if (row < selection.row_begin || row >= selection.row_end) continue;
      if (selection.all) return 1;
      auto it = std::lower_bound(selection.picks.begin(), selection.picks.end(), std::make_pair(row, uint32_t{0}));
      return it != selection.picks.end() && it->first == row ? it->second : 0;
    }
    return 0;
  }

  uint32_t copies(uint64_t row) const {
    if (!validation.empty() && std::binary_search(validation.begin(), validation.end(), row)) return 0;
    return copies_before_split(row);
  }

  // ---- streaming ----
  // The non-empty chunks rank `rank` of `world` is dealt in epoch `of_epoch`: the chunks permuted from
  // (data_seed, epoch) when shuffling, then dealt round-robin.
  std::vector<uint64_t> chunks_dealt(uint32_t of_epoch, int rank, int world) const {
    std::vector<uint64_t> order(chunks.size());
    for (uint64_t c = 0; c < chunks.size(); ++c) order[c] = c;
    if (options.shuffle) {
      Rng shuffle_rng(Rng::mix(options.data_seed, of_epoch));
      for (uint64_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle_rng.below(i)]);
    }
    std::vector<uint64_t> out;
    for (uint64_t k = static_cast<uint64_t>(rank); k < order.size(); k += static_cast<uint64_t>(world))
      if (chunks[order[k]].first_start != kNoLine) out.push_back(order[k]);
    return out;
  }

  void deal_chunks() {
    my_chunks = chunks_dealt(epoch, options.rank, options.world_size);
    custom_deal.clear();
    redealt = false;
  }

  void use_deal(const std::vector<DealtChunk>& deal) {
    redealt = true;
    custom_deal = deal;
    my_chunks.clear();
    for (const DealtChunk& dealt : deal) {
      ZT_REQUIRE(dealt.chunk < chunks.size(), "data cursor names chunk " << dealt.chunk << " of " << chunks.size()
                                                                          << " (written for other data?)");
      my_chunks.push_back(dealt.chunk);
    }
  }

  // Reads the next line of this rank's chunks; false when they are exhausted.
  bool read_next_line(RawRow& out, bool& blank) {
    while (chunk_position < my_chunks.size()) {
      const Chunk& chunk = chunks[my_chunks[chunk_position]];
      const FileInfo& file = files[chunk.file];
      if (!chunk_started) {
        chunk_started = true;
        chunk_offset = chunk.first_start;
        next_line = chunk.first_line;
        next_row = chunk.first_row;
        if (redealt && custom_deal[chunk_position].has_start) {
          const DealtChunk& dealt = custom_deal[chunk_position];
          chunk_offset = dealt.offset, next_line = dealt.line, next_row = dealt.row;
        }
        block.clear();
        block_start = chunk_offset;
      }
      if (chunk_offset >= chunk.aligned_end || chunk_offset >= chunk.end) {
        ++chunk_position;
        chunk_started = false;
        continue;
      }
      out.ref = {chunk.file, chunk_offset, next_row, next_line};
      if (file.kind != FileKind::jsonl) {
        out.value = file.rows[chunk_offset];
        out.text = out.value->dump();
        blank = false;
        ++chunk_offset;
      } else {
        out.text.clear();
        // Bytes of [chunk_offset, aligned_end) come through `block`, read in large pieces.
        while (true) {
          if (chunk_offset >= block_start + block.size()) {
            uint64_t length = std::min<uint64_t>(kReadBlock, chunk.aligned_end - chunk_offset);
            block.resize(length);
            size_t got = pread_exact(file, chunk_offset, length, block.data());
            block.resize(got);
            block_start = chunk_offset;
            io.stream_bytes += got;
            io.stream_ranges.push_back({chunk_offset, chunk_offset + got});
            io.stream_files.push_back(chunk.file);
            if (got == 0) break;
          }
          const char* begin = block.data() + (chunk_offset - block_start);
          size_t available = block.size() - (chunk_offset - block_start);
          const char* newline = static_cast<const char*>(std::memchr(begin, '\n', available));
          size_t take = newline != nullptr ? static_cast<size_t>(newline - begin) : available;
          out.text.append(begin, take);
          chunk_offset += take + (newline != nullptr ? 1 : 0);
          if (newline != nullptr || chunk_offset >= chunk.aligned_end) break;
        }
        blank = std::all_of(out.text.begin(), out.text.end(), is_blank_char);
      }
      ++next_line;
      if (!blank) ++next_row;
      return true;
    }
    return false;
  }

  // Moves the next selected row (with its copies) into the buffer; false at the end of the share.
  bool fill_one() {
    RawRow row;
    bool blank = false;
    while (read_next_line(row, blank)) {
      if (blank) continue;
      uint32_t count = copies(row.ref.row);
      for (uint32_t k = 0; k < count; ++k) buffer.push_back(k + 1 < count ? row : std::move(row));
      if (count > 0) return true;
    }
    return false;
  }

  std::optional<RawRow> next() {
    if (!options.shuffle) {
      if (fifo_head == buffer.size()) {
        buffer.clear();
        fifo_head = 0;
        if (!fill_one()) return std::nullopt;
      }
      return std::move(buffer[fifo_head++]);
    }
    while (buffer.size() < std::max<uint32_t>(options.shuffle_buffer_size, 1) && fill_one()) {
    }
    if (buffer.empty()) return std::nullopt;
    std::swap(buffer[rng.below(buffer.size())], buffer.back());
    RawRow out = std::move(buffer.back());
    buffer.pop_back();
    return out;
  }

  RawRow reread(const RowRef& ref) const {
    const FileInfo& file = files.at(ref.file);
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
};

ShardReader::ShardReader(std::vector<DatasetSource> sources, ReaderOptions options, const ExchangeFn& exchange)
    : impl_(std::make_unique<Impl>()) {
  ZT_REQUIRE(!sources.empty(), "no dataset given; pass --dataset FILE.jsonl");
  ZT_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
           "bad rank " << options.rank << " of " << options.world_size);
  impl_->options = options;
  impl_->sources = std::move(sources);
  impl_->open_files();
  impl_->cut_chunks();
  impl_->build_index(exchange);
  impl_->select_rows();
  start_epoch(0);
}

ShardReader::~ShardReader() = default;
ShardReader::ShardReader(ShardReader&&) noexcept = default;
ShardReader& ShardReader::operator=(ShardReader&&) noexcept = default;

void ShardReader::start_epoch(uint32_t epoch) {
  Impl& impl = *impl_;
  impl.epoch = epoch;
  impl.deal_chunks();
  impl.chunk_position = 0;
  impl.chunk_started = false;
  impl.buffer.clear();
  impl.fifo_head = 0;
  impl.block.clear();
  impl.rng = Rng(Rng::mix(Rng::mix(impl.options.data_seed, epoch), 7919 + static_cast<uint64_t>(impl.options.rank)));
}

std::optional<RawRow> ShardReader::next() { return impl_->next(); }

ReaderCursor ShardReader::cursor() const {
  const Impl& impl = *impl_;
  ReaderCursor cursor;
  cursor.epoch = impl.epoch;
  cursor.chunk_position = impl.chunk_position;
  cursor.chunk_started = impl.chunk_started;
  cursor.chunk_offset = impl.chunk_offset;
  cursor.next_line = impl.next_line;
  cursor.next_row = impl.next_row;
  cursor.rng_state = impl.rng.state();
  for (size_t i = impl.options.shuffle ? 0 : impl.fifo_head; i < impl.buffer.size(); ++i)
    cursor.buffer.push_back(impl.buffer[i].ref);
  cursor.exhausted = impl.chunk_position >= impl.my_chunks.size();
  cursor.redealt = impl.redealt;
  cursor.dealt = impl.custom_deal;
  return cursor;
}

void ShardReader::restore(const ReaderCursor& cursor) {
  Impl& impl = *impl_;
  start_epoch(cursor.epoch);
  if (cursor.redealt) impl.use_deal(cursor.dealt);
  ZT_REQUIRE(cursor.chunk_position <= impl.my_chunks.size(),
             "data cursor points past this rank's chunks (written by a run with other data or world size?)");
  impl.chunk_position = cursor.chunk_position;
  impl.chunk_started = cursor.chunk_started;
  impl.chunk_offset = cursor.chunk_offset;
  impl.next_line = cursor.next_line;
  impl.next_row = cursor.next_row;
  impl.block.clear();
  impl.block_start = cursor.chunk_offset;
  impl.rng.set_state(cursor.rng_state);
  for (const RowRef& ref : cursor.buffer) impl.buffer.push_back(impl.reread(ref));
}

void ShardReader::redeal(const std::vector<ReaderCursor>& cursors, const std::vector<RowRef>& pending) {
  Impl& impl = *impl_;
  ZT_REQUIRE(!cursors.empty(), "redeal needs the cursors of the run that stopped");
  const uint32_t epoch = cursors[0].epoch;
  for (const ReaderCursor& cursor : cursors)
    ZT_REQUIRE(cursor.epoch == epoch, "the data cursors of the checkpoint are in different epochs");
  start_epoch(epoch);
  // What each old rank had not read yet, taken position by position across the old ranks.
  const int old_world = static_cast<int>(cursors.size());
  std::vector<std::vector<DealtChunk>> remaining(cursors.size());
  size_t longest = 0;
  for (int r = 0; r < old_world; ++r) {
    const ReaderCursor& cursor = cursors[static_cast<size_t>(r)];
    std::vector<DealtChunk> list = cursor.dealt;
    if (!cursor.redealt)
      for (uint64_t chunk : impl.chunks_dealt(epoch, r, old_world)) list.push_back({chunk, false, 0, 0, 0});
    for (size_t p = cursor.chunk_position; p < list.size(); ++p) {
      DealtChunk item = list[p];
      if (p == cursor.chunk_position && cursor.chunk_started)
        item = {item.chunk, true, cursor.chunk_offset, cursor.next_line, cursor.next_row};
      remaining[static_cast<size_t>(r)].push_back(item);
    }
    longest = std::max(longest, remaining[static_cast<size_t>(r)].size());
  }
  std::vector<DealtChunk> all;
  for (size_t p = 0; p < longest; ++p)
    for (const auto& list : remaining)
      if (p < list.size()) all.push_back(list[p]);
  std::vector<DealtChunk> mine;
  for (size_t i = static_cast<size_t>(impl.options.rank); i < all.size(); i += static_cast<size_t>(impl.options.world_size))
    mine.push_back(all[i]);
  impl.use_deal(mine);
  std::vector<RowRef> rows;
  for (const ReaderCursor& cursor : cursors) rows.insert(rows.end(), cursor.buffer.begin(), cursor.buffer.end());
  rows.insert(rows.end(), pending.begin(), pending.end());
  for (size_t i = static_cast<size_t>(impl.options.rank); i < rows.size(); i += static_cast<size_t>(impl.options.world_size))
    impl.buffer.push_back(impl.reread(rows[i]));
}

RawRow ShardReader::read_row(const RowRef& ref) const { return impl_->reread(ref); }

uint64_t ShardReader::num_train_rows() const { return impl_->train_rows; }
const std::vector<std::string>& ShardReader::file_paths() const { return impl_->paths; }
const ReaderIo& ShardReader::io() const { return impl_->io; }

std::vector<RawRow> ShardReader::read_validation_rows() const {
  const Impl& impl = *impl_;
  std::vector<RawRow> rows;
  for (uint64_t wanted : impl.validation) {
    // The chunk holding the row, then its lines in order.
    auto chunk_it = std::upper_bound(impl.chunks.begin(), impl.chunks.end(), wanted,
                                     [](uint64_t row, const Chunk& chunk) { return row < chunk.first_row; });
    ZT_CHECK(chunk_it != impl.chunks.begin(), "validation row " << wanted << " before the first chunk");
    const Chunk& chunk = *(chunk_it - 1);
    const FileInfo& file = impl.files[chunk.file];
    uint64_t offset = chunk.first_start, line = chunk.first_line, row = chunk.first_row;
    while (offset < chunk.aligned_end) {
      RawRow candidate = impl.reread({chunk.file, offset, row, line});
      bool blank = !candidate.value && std::all_of(candidate.text.begin(), candidate.text.end(), is_blank_char);
      if (!blank && row == wanted) {
        rows.push_back(std::move(candidate));
        break;
      }
      offset += file.kind == FileKind::jsonl ? candidate.text.size() + 1 : 1;
      ++line;
      if (!blank) ++row;
    }
  }
  return rows;
}

json row_refs_to_json(const std::vector<RowRef>& refs) {
  json out = json::array();
  for (const RowRef& ref : refs) out.push_back({ref.file, ref.offset, ref.row, ref.line});
  return out;
}

std::vector<RowRef> row_refs_from_json(const json& value) {
  std::vector<RowRef> refs;
  for (const json& ref : value)
    refs.push_back({ref.at(0).get<uint32_t>(), ref.at(1).get<uint64_t>(), ref.at(2).get<uint64_t>(),
                    ref.at(3).get<uint64_t>()});
  return refs;
}

json ReaderCursor::to_json() const {
  json out = {{"epoch", epoch},         {"chunk_position", chunk_position}, {"chunk_started", chunk_started},
          {"chunk_offset", chunk_offset}, {"next_line", next_line},   {"next_row", next_row},
          {"rng_state", rng_state}, {"buffer", row_refs_to_json(buffer)},                 {"exhausted", exhausted}};
  if (redealt) {
    json list = json::array();
    for (const DealtChunk& d : dealt)
      list.push_back(d.has_start ? json{d.chunk, d.offset, d.line, d.row} : json{d.chunk});
    out["dealt"] = list;
  }
  return out;
}

ReaderCursor ReaderCursor::from_json(const json& value) {
  ReaderCursor cursor;
  try {
    cursor.epoch = value.at("epoch").get<uint32_t>();
    cursor.chunk_position = value.at("chunk_position").get<uint64_t>();
    cursor.chunk_started = value.at("chunk_started").get<bool>();
    cursor.chunk_offset = value.at("chunk_offset").get<uint64_t>();
    cursor.next_line = value.at("next_line").get<uint64_t>();
    cursor.next_row = value.at("next_row").get<uint64_t>();
    cursor.rng_state = value.at("rng_state").get<uint64_t>();
    cursor.exhausted = value.at("exhausted").get<bool>();
    cursor.buffer = row_refs_from_json(value.at("buffer"));
    cursor.redealt = value.contains("dealt");
    if (cursor.redealt)
      for (const json& d : value.at("dealt")) {
        DealtChunk dealt;
        dealt.chunk = d.at(0).get<uint64_t>();
        if (d.size() == 4)
          dealt = {dealt.chunk, true, d.at(1).get<uint64_t>(), d.at(2).get<uint64_t>(), d.at(3).get<uint64_t>()};
        cursor.dealt.push_back(dealt);
      }
  } catch (const json::exception& error) {
    ZT_THROW("data cursor is malformed (" << error.what() << ")");
  }
  return cursor;
}

DatasetSource parse_dataset_spec(const std::string& spec) {
  DatasetSource source;
  if (fs::exists(spec)) {
    source.path = spec;
    return source;
  }
  std::string rest = spec;
  std::string prefix = rest.substr(0, 4);
  std::transform(prefix.begin(), prefix.end(), prefix.begin(), [](unsigned char c) { return std::tolower(c); });
  if (prefix == "hf::" || prefix == "ms::") source.use_hf = prefix == "hf::", rest = rest.substr(4);
  if (size_t hash = rest.rfind('#'); hash != std::string::npos) {
    std::string count = rest.substr(hash + 1);
    char* end = nullptr;
    errno = 0;
    unsigned long long parsed = std::strtoull(count.c_str(), &end, 10);
    ZT_REQUIRE(!count.empty() && end == count.c_str() + count.size() && errno == 0 && parsed > 0,
               "--dataset '" << spec << "': '#" << count << "' is not a positive row count");
    source.sample_count = parsed;
    rest = rest.substr(0, hash);
  }
  if (!fs::exists(rest)) {
    // "id:subset" names a hub subset; a local path keeps its colon.
    if (size_t colon = rest.rfind(':'); colon != std::string::npos && fs::exists(rest.substr(0, colon)))
      rest = rest.substr(0, colon);
  }
  source.path = rest;
  return source;
}

}  // namespace zt::data
