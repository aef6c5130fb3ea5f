#include "data/shard_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chunk_index.h"
#include "data/rng.h"

namespace zt::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

}  // namespace

// The stream of one rank's share of an epoch: its chunks of the index, read line by line through a shuffle buffer.
struct ShardReader::Impl {
  Impl(std::vector<DatasetSource> sources, const ReaderOptions& reader_options, const ExchangeFn& exchange)
      : index(std::move(sources), reader_options, exchange) {
    io.index_bytes = index.index_bytes();
  }

  ChunkIndex index;
  const ReaderOptions& options = index.options();  // the index's copy
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

  void deal_chunks() {
    my_chunks = index.chunks_dealt(epoch, options.rank, options.world_size);
    custom_deal.clear();
    redealt = false;
  }

  void use_deal(const std::vector<DealtChunk>& deal) {
    redealt = true;
    custom_deal = deal;
    my_chunks.clear();
    for (const DealtChunk& dealt : deal) {
      ZT_REQUIRE(dealt.chunk < index.chunks().size(), "data cursor names chunk " << dealt.chunk << " of " << index.chunks().size()
                                                                          << " (written for other data?)");
      my_chunks.push_back(dealt.chunk);
    }
  }

  // Reads the next line of this rank's chunks; false when they are exhausted.
  bool read_next_line(RawRow& out, bool& blank) {
    while (chunk_position < my_chunks.size()) {
      const Chunk& chunk = index.chunks()[my_chunks[chunk_position]];
      const DataFile& file = index.files()[chunk.file];
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
            size_t got = index.read_bytes(file, chunk_offset, length, block.data());
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
        blank = is_blank_text(out.text);
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
      uint32_t count = index.copies(row.ref.row);
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
};

ShardReader::ShardReader(std::vector<DatasetSource> sources, ReaderOptions options, const ExchangeFn& exchange) {
  ZT_REQUIRE(!sources.empty(), "no dataset given; pass --dataset FILE.jsonl");
  ZT_CHECK(options.world_size >= 1 && options.rank >= 0 && options.rank < options.world_size,
           "bad rank " << options.rank << " of " << options.world_size);
  impl_ = std::make_unique<Impl>(std::move(sources), options, exchange);
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
  for (const RowRef& ref : cursor.buffer) impl.buffer.push_back(impl.index.reread(ref));
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
      for (uint64_t chunk : impl.index.chunks_dealt(epoch, r, old_world)) list.push_back({chunk, false, 0, 0, 0});
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
    impl.buffer.push_back(impl.index.reread(rows[i]));
}

RawRow ShardReader::read_row(const RowRef& ref) const { return impl_->index.reread(ref); }

uint64_t ShardReader::num_train_rows() const { return impl_->index.train_rows(); }
const std::vector<std::string>& ShardReader::file_paths() const { return impl_->index.paths(); }
const ReaderIo& ShardReader::io() const { return impl_->io; }

std::vector<RawRow> ShardReader::read_validation_rows() const {
  const Impl& impl = *impl_;
  std::vector<RawRow> rows;
  const std::vector<Chunk>& chunks = impl.index.chunks();
  for (uint64_t wanted : impl.index.validation()) {
    // The chunk holding the row, then its lines in order.
    auto chunk_it = std::upper_bound(chunks.begin(), chunks.end(), wanted,
                                     [](uint64_t row, const Chunk& chunk) { return row < chunk.first_row; });
    ZT_CHECK(chunk_it != chunks.begin(), "validation row " << wanted << " before the first chunk");
    const Chunk& chunk = *(chunk_it - 1);
    const DataFile& file = impl.index.files()[chunk.file];
    uint64_t offset = chunk.first_start, line = chunk.first_line, row = chunk.first_row;
    while (offset < chunk.aligned_end) {
      RawRow candidate = impl.index.reread({chunk.file, offset, row, line});
      bool blank = !candidate.value && is_blank_text(candidate.text);
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
