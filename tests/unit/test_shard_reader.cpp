// The sharded reader and the data pipeline: every row exactly once per epoch over any number of ranks,
// no rank reading another's bytes, exact resume from a cursor, sampling and splits, bad rows counted.
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/rng.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using namespace zt::data;

const std::string kFixtures = ZTUNE_FIXTURES_DIR;

fs::path work_dir(const std::string& name) {
  fs::path dir = fs::path(ZTUNE_TEST_WORK_DIR) / "data" / name;
  fs::create_directories(dir);
  return dir;
}

// A jsonl file of `rows` conversations of varied length, with blank lines mixed in.
std::string write_corpus(const std::string& name, int rows, uint64_t seed) {
  fs::path path = work_dir("corpus") / name;
  std::ofstream out(path);
  Rng rng(seed);
  for (int i = 0; i < rows; ++i) {
    std::string answer(static_cast<size_t>(rng.below(300)), 'x');
    out << R"({"messages": [{"role": "user", "content": "row )" << i << R"("}, {"role": "assistant", "content": ")"
        << answer << R"("}]})" << "\n";
    if (rng.below(20) == 0) out << "\n";
    if (rng.below(40) == 0) out << "   \n";
  }
  return path.string();
}

// Runs one reader per rank on its own thread; the index exchange is an in-memory all-gather.
class SimulatedWorld {
 public:
  explicit SimulatedWorld(int size) : size_(size), slots_(static_cast<size_t>(size)) {}
  ExchangeFn exchange_for(int rank) {
    return [this, rank](const std::vector<uint64_t>& mine) {
      std::unique_lock<std::mutex> lock(mutex_);
      slots_[static_cast<size_t>(rank)] = mine;
      if (++arrived_ == size_) {
        all_.clear();
        for (const auto& slot : slots_) all_.insert(all_.end(), slot.begin(), slot.end());
        ready_ = true;
        cv_.notify_all();
      } else {
        cv_.wait(lock, [this] { return ready_; });
      }
      return all_;
    };
  }
  template <class Body>
  void run(Body body) {
    std::vector<std::thread> threads;
    for (int rank = 0; rank < size_; ++rank) threads.emplace_back([&, rank] { body(rank); });
    for (std::thread& thread : threads) thread.join();
  }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::vector<uint64_t>> slots_;
  std::vector<uint64_t> all_;
  int arrived_ = 0;
  bool ready_ = false;
};

ExchangeFn single_process() {
  return [](const std::vector<uint64_t>& mine) { return mine; };
}

std::vector<std::string> non_blank_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(line);
  return lines;
}

TEST(ShardReader, EveryRowOncePerEpochOverOneToFourRanksAndNoSharedBytes) {
  std::string path = write_corpus("shards.jsonl", 3000, 5);
  std::vector<std::string> expected = non_blank_lines(path);
  std::sort(expected.begin(), expected.end());
  const uint64_t file_size = fs::file_size(path);
  for (int world = 1; world <= 4; ++world) {
    SCOPED_TRACE("world size " + std::to_string(world));
    SimulatedWorld simulated(world);
    std::vector<std::vector<std::string>> rows(static_cast<size_t>(world));
    std::vector<std::vector<std::pair<uint64_t, uint64_t>>> ranges(static_cast<size_t>(world));
    std::vector<uint64_t> train_rows(static_cast<size_t>(world));
    simulated.run([&](int rank) {
      ReaderOptions options;
      options.rank = rank;
      options.world_size = world;
      options.chunk_bytes = 2048;
      options.shuffle_buffer_size = 64;
      ShardReader reader({{path, std::nullopt, std::nullopt}}, options, simulated.exchange_for(rank));
      for (uint32_t epoch = 0; epoch < 2; ++epoch) {
        reader.start_epoch(epoch);
        while (auto row = reader.next()) rows[static_cast<size_t>(rank)].push_back(row->text);
      }
      ranges[static_cast<size_t>(rank)] = reader.io().stream_ranges;
      train_rows[static_cast<size_t>(rank)] = reader.num_train_rows();
    });
    std::vector<std::string> all;
    for (const auto& rank_rows : rows) all.insert(all.end(), rank_rows.begin(), rank_rows.end());
    std::sort(all.begin(), all.end());
    std::vector<std::string> twice;
    for (const std::string& line : expected) twice.insert(twice.end(), {line, line});
    EXPECT_EQ(all, twice) << "two epochs must yield every row exactly twice";
    for (uint64_t count : train_rows) EXPECT_EQ(count, expected.size());

    // Over two epochs, all ranks together read each byte of the file exactly twice.
    uint64_t streamed = 0;
    for (int rank = 0; rank < world; ++rank)
      for (auto [begin, end] : ranges[static_cast<size_t>(rank)]) streamed += end - begin;
    EXPECT_EQ(streamed, 2 * file_size);
  }
}

TEST(ShardReader, RanksReadDisjointBytesWithinAnEpoch) {
  std::string path = write_corpus("disjoint.jsonl", 2000, 9);
  for (int world = 2; world <= 4; ++world) {
    SimulatedWorld simulated(world);
    std::vector<std::vector<std::pair<uint64_t, uint64_t>>> ranges(static_cast<size_t>(world));
    simulated.run([&](int rank) {
      ReaderOptions options;
      options.rank = rank;
      options.world_size = world;
      options.chunk_bytes = 1500;
      ShardReader reader({{path, std::nullopt, std::nullopt}}, options, simulated.exchange_for(rank));
      while (reader.next()) {
      }
      ranges[static_cast<size_t>(rank)] = reader.io().stream_ranges;
    });
    std::vector<std::pair<uint64_t, uint64_t>> all;
    for (const auto& rank_ranges : ranges) all.insert(all.end(), rank_ranges.begin(), rank_ranges.end());
    std::sort(all.begin(), all.end());
    for (size_t i = 1; i < all.size(); ++i)
      EXPECT_LE(all[i - 1].second, all[i].first) << "two reads overlap at byte " << all[i].first;
    uint64_t total = 0;
    for (auto [begin, end] : all) total += end - begin;
    EXPECT_EQ(total, fs::file_size(path));
  }
}

TEST(ShardReader, ShuffleDependsOnSeedAndEpochOnly) {
  std::string path = write_corpus("order.jsonl", 500, 3);
  auto epoch_rows = [&](uint64_t seed, uint32_t epoch) {
    ReaderOptions options;
    options.data_seed = seed;
    options.chunk_bytes = 1024;
    ShardReader reader({{path, std::nullopt, std::nullopt}}, options, single_process());
    reader.start_epoch(epoch);
    std::vector<uint64_t> order;
    while (auto row = reader.next()) order.push_back(row->ref.row);
    return order;
  };
  EXPECT_EQ(epoch_rows(42, 0), epoch_rows(42, 0));
  EXPECT_NE(epoch_rows(42, 0), epoch_rows(42, 1));
  EXPECT_NE(epoch_rows(42, 0), epoch_rows(7, 0));
  ReaderOptions ordered;
  ordered.shuffle = false;
  ShardReader reader({{path, std::nullopt, std::nullopt}}, ordered, single_process());
  uint64_t expected = 0;
  while (auto row = reader.next()) EXPECT_EQ(row->ref.row, expected++);
}

TEST(ShardReader, ResumeFromARandomCursorYieldsTheSameStream) {
  std::string path = write_corpus("resume.jsonl", 1500, 11);
  ReaderOptions options;
  options.chunk_bytes = 4096;
  options.shuffle_buffer_size = 50;
  options.world_size = 2;
  for (int rank = 0; rank < 2; ++rank) {
    options.rank = rank;
    // Both ranks' index results, computed once, replayed by a fake exchange.
    SimulatedWorld simulated(2);
    std::vector<std::vector<uint64_t>> streams(2);
    std::vector<ReaderCursor> cursors;
    std::vector<size_t> cut_points;
    Rng rng(99 + static_cast<uint64_t>(rank));
    simulated.run([&](int r) {
      ReaderOptions mine = options;
      mine.rank = r;
      ShardReader reader({{path, std::nullopt, std::nullopt}}, mine, simulated.exchange_for(r));
      if (r != rank) return;
      reader.start_epoch(3);
      while (true) {
        if (rng.below(40) == 0) {
          cursors.push_back(reader.cursor());
          cut_points.push_back(streams[0].size());
        }
        auto row = reader.next();
        if (!row) break;
        streams[0].push_back(row->ref.row);
      }
      ASSERT_FALSE(cursors.empty());
      for (size_t i = 0; i < cursors.size(); ++i) {
        // A fresh reader restored from the cursor (through its JSON form) continues identically.
        ShardReader resumed = std::move(reader);
        ReaderCursor cursor = ReaderCursor::from_json(cursors[i].to_json());
        resumed.restore(cursor);
        std::vector<uint64_t> rest;
        while (auto row = resumed.next()) rest.push_back(row->ref.row);
        std::vector<uint64_t> expected(streams[0].begin() + static_cast<long>(cut_points[i]), streams[0].end());
        EXPECT_EQ(rest, expected) << "cursor " << i << " at row " << cut_points[i];
        reader = std::move(resumed);
      }
    });
  }
}

TEST(ShardReader, SamplingWithHashNAndSplits) {
  std::string path = write_corpus("sample.jsonl", 200, 4);
  uint64_t rows = non_blank_lines(path).size();
  auto count_rows = [&](std::optional<uint64_t> n, double split) {
    ReaderOptions options;
    options.split_ratio = split;
    ShardReader reader({{path, n, std::nullopt}}, options, single_process());
    std::map<uint64_t, int> seen;
    while (auto row = reader.next()) ++seen[row->ref.row];
    uint64_t total = 0;
    for (auto& [row, count] : seen) total += static_cast<uint64_t>(count);
    EXPECT_EQ(total, reader.num_train_rows());
    return std::make_tuple(total, seen, reader.read_validation_rows());
  };
  auto [fewer, fewer_seen, no_val] = count_rows(50, 0);
  EXPECT_EQ(fewer, 50u);
  for (auto& [row, count] : fewer_seen) EXPECT_EQ(count, 1) << "#N below the size samples without replacement";
  EXPECT_TRUE(no_val.empty());
  auto [more, more_seen, no_val2] = count_rows(rows * 2 + 7, 0);
  EXPECT_EQ(more, rows * 2 + 7);
  int threes = 0;
  for (auto& [row, count] : more_seen) {
    EXPECT_TRUE(count == 2 || count == 3);
    threes += count == 3;
  }
  EXPECT_EQ(threes, 7) << "#N above the size repeats the set and adds N % size random rows";
  auto [train, train_seen, validation] = count_rows(std::nullopt, 0.1);
  EXPECT_EQ(validation.size(), rows / 10);
  EXPECT_EQ(train + validation.size(), rows);
  for (const RawRow& row : validation) EXPECT_EQ(train_seen.count(row.ref.row), 0u) << "validation row also trained";
  EXPECT_THROW(parse_dataset_spec("data.jsonl#zero"), zt::Error);
  EXPECT_EQ(parse_dataset_spec("MS::missing/dataset#100").sample_count, 100u);
}

TEST(ShardReader, JsonArrayAndCsvFiles) {
  fs::path dir = work_dir("tables");
  std::ofstream(dir / "rows.json") << R"([{"query": "a", "response": "1"}, {"query": "b", "response": "2"}])";
  std::ofstream(dir / "rows.csv") << "instruction,input,output\n\"Say \"\"hi\"\"\",,hi\nAdd,\"1,2\",3\n";
  ReaderOptions options;
  options.shuffle = false;
  ShardReader reader({{(dir / "rows.json").string(), std::nullopt, std::nullopt}, {(dir / "rows.csv").string(), std::nullopt, std::nullopt}},
                     options, single_process());
  std::vector<std::string> texts;
  while (auto row = reader.next()) texts.push_back(row->text);
  ASSERT_EQ(texts.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(texts[2])["instruction"], "Say \"hi\"");
  EXPECT_TRUE(nlohmann::json::parse(texts[2])["input"].is_null());
  EXPECT_EQ(nlohmann::json::parse(texts[3])["input"], "1,2");
  std::ofstream(dir / "bad.txt") << "x";
  EXPECT_THROW(ShardReader({{(dir / "bad.txt").string(), std::nullopt, std::nullopt}}, options, single_process()), zt::Error);
  EXPECT_THROW(ShardReader({{(dir / "absent.jsonl").string(), std::nullopt, std::nullopt}}, options, single_process()), zt::Error);
}

// ---- the pipeline over the fixture tokenizer ----

struct FixtureTemplate {
  Tokenizer tokenizer = Tokenizer::load(kFixtures + "/qwen2");
  SpecialTokens special = read_special_tokens(kFixtures + "/qwen2", tokenizer);
  ChatTemplate chat{template_by_name("qwen2_5"), tokenizer, std::nullopt, special.eos_id};
};

TEST(Pipeline, BadRowsAreSkippedAndCountedByReason) {
  fs::path path = work_dir("bad") / "bad.jsonl";
  std::ofstream out(path, std::ios::binary);
  out << R"({"query": "good", "response": "row"})" << "\n"
      << R"({"messages": [)" << "\n"                                             // malformed JSON
      << R"([1, 2])" << "\n"                                                     // not an object
      << R"({"foo": 1})" << "\n"                                                 // unknown format
      << R"({"messages": [{"role": "alien", "content": "x"}]})" << "\n"          // bad role
      << R"({"messages": [{"role": "user", "content": null}]})" << "\n"          // null content
      << R"({"messages": []})" << "\n"                                           // empty
      << R"({"messages": [{"role": "user", "content": "no reply"}]})" << "\n"    // no assistant reply
      << "{\"query\": \"\xc3\x28\", \"response\": \"r\"}" << "\n"                // not UTF-8
      << R"({"query": ")" << std::string(3000, 'z') << R"(", "response": "long"})" << "\n"  // over max_length
      << R"({"query": "good again", "response": "row"})" << "\n";
  out.close();
  FixtureTemplate fixture;
  ReaderOptions reader_options;
  reader_options.shuffle = false;
  ShardReader reader({{path.string(), std::nullopt, std::nullopt}}, reader_options, single_process());
  PipelineOptions options;
  options.max_length = 256;
  DataPipeline pipeline(reader, fixture.chat, options);
  int produced = 0;
  while (pipeline.next()) ++produced;
  const RowStats& stats = pipeline.stats();
  EXPECT_EQ(produced, 2);
  EXPECT_EQ(stats.rows_read, 11u);
  EXPECT_EQ(stats.rows_used, 2u);
  for (RowIssue issue : {RowIssue::malformed_json, RowIssue::not_an_object, RowIssue::unknown_format,
                         RowIssue::bad_role, RowIssue::null_content, RowIssue::empty_conversation,
                         RowIssue::no_assistant_reply, RowIssue::not_utf8, RowIssue::over_max_length})
    EXPECT_EQ(stats.skipped[static_cast<size_t>(issue)], 1u) << row_issue_name(issue);
  ASSERT_EQ(stats.reports.size(), RowStats::kMaxReports);
  EXPECT_EQ(stats.reports[0].rfind(path.string() + ":2: malformed JSON", 0), 0u) << stats.reports[0];
  EXPECT_NE(stats.summary().find("rows read 11, used 2, skipped 9"), std::string::npos) << stats.summary();

  // --strict true: the first bad row stops everything, naming file:line.
  options.strict = true;
  ShardReader strict_reader({{path.string(), std::nullopt, std::nullopt}}, reader_options, single_process());
  DataPipeline strict(strict_reader, fixture.chat, options);
  ASSERT_TRUE(strict.next().has_value());
  try {
    strict.next();
    FAIL() << "strict mode accepted a bad row";
  } catch (const zt::Error& error) {
    EXPECT_NE(std::string(error.what()).find(path.string() + ":2: malformed JSON"), std::string::npos) << error.what();
  }
  // Shuffled, the first bad row met may be any; the report is still the first in file order, as ms-swift's.
  ReaderOptions shuffled = reader_options;
  shuffled.shuffle = true;
  for (int seed : {1, 2, 3}) {
    shuffled.data_seed = static_cast<uint64_t>(seed);
    ShardReader shuffled_reader({{path.string(), std::nullopt, std::nullopt}}, shuffled, single_process());
    DataPipeline pipeline_shuffled(shuffled_reader, fixture.chat, options);
    try {
      while (pipeline_shuffled.next()) {
      }
      FAIL() << "strict mode accepted a bad row";
    } catch (const zt::Error& error) {
      EXPECT_NE(std::string(error.what()).find(path.string() + ":2: malformed JSON"), std::string::npos) << error.what();
    }
  }
}

TEST(Pipeline, TruncationLeftAndRight) {
  fs::path path = work_dir("truncate") / "long.jsonl";
  std::ofstream(path) << R"({"query": "q", "response": ")" << std::string(400, 'a') << " end\"}\n";
  FixtureTemplate fixture;
  for (Truncation mode : {Truncation::left, Truncation::right}) {
    ReaderOptions reader_options;
    ShardReader reader({{path.string(), std::nullopt, std::nullopt}}, reader_options, single_process());
    PipelineOptions options;
    options.max_length = 64;
    options.truncation = mode;
    DataPipeline pipeline(reader, fixture.chat, options);
    auto row = pipeline.next();
    ASSERT_TRUE(row.has_value());
    EXPECT_EQ(row->input_ids.size(), 64u);
    EXPECT_EQ(pipeline.stats().rows_truncated, 1u);
    const auto& full = fixture.chat.encode(convert_line(reader.read_row(row->sources[0]).text, {}).conversation,
                                           LossScale::default_);
    if (mode == Truncation::left)
      EXPECT_TRUE(std::equal(row->input_ids.begin(), row->input_ids.end(), full.input_ids.end() - 64));
    else
      EXPECT_TRUE(std::equal(row->input_ids.begin(), row->input_ids.end(), full.input_ids.begin()));
  }
}

TEST(Pipeline, PackedResumeFromCursorsIsExact) {
  std::string path = write_corpus("packed.jsonl", 800, 21);
  FixtureTemplate fixture;
  ReaderOptions reader_options;
  reader_options.chunk_bytes = 4096;
  reader_options.shuffle_buffer_size = 40;
  PipelineOptions options;
  options.max_length = 256;
  options.packing = true;
  options.packing_buffer = 30;
  ShardReader reader({{path, std::nullopt, std::nullopt}}, reader_options, single_process());
  DataPipeline pipeline(reader, fixture.chat, options);
  pipeline.start_epoch(1);
  std::vector<std::vector<int32_t>> rows;
  std::vector<std::pair<size_t, nlohmann::json>> cursors;
  Rng rng(5);
  while (true) {
    if (rng.below(15) == 0) cursors.push_back({rows.size(), pipeline.cursor().to_json()});
    auto row = pipeline.next();
    if (!row) break;
    EXPECT_LE(row->input_ids.size(), 256u);
    rows.push_back(row->input_ids);
  }
  ASSERT_GE(cursors.size(), 3u);
  double fill = pipeline.fill_ratio().value();
  EXPECT_GT(fill, 0.8) << "best-fit-decreasing should fill rows";
  for (const auto& [at, json] : cursors) {
    ShardReader fresh_reader({{path, std::nullopt, std::nullopt}}, reader_options, single_process());
    DataPipeline fresh(fresh_reader, fixture.chat, options);
    fresh.restore(PipelineCursor::from_json(json));
    std::vector<std::vector<int32_t>> rest;
    while (auto row = fresh.next()) rest.push_back(row->input_ids);
    EXPECT_EQ(rest, std::vector<std::vector<int32_t>>(rows.begin() + static_cast<long>(at), rows.end()))
        << "resumed at packed row " << at;
    EXPECT_EQ(fresh.stats().rows_used, pipeline.stats().rows_used);
  }
}

// A run on `from` ranks stops mid-epoch (each rank after a different number of rows); a run on `to` ranks
// redeals what they had not used. Over both runs every row of the epoch is used exactly once, and a cursor
// taken after the redeal restores exactly.
void check_redeal(int from, int to, bool packing, bool shuffle) {
  SCOPED_TRACE(std::to_string(from) + " -> " + std::to_string(to) + " ranks, packing " + std::to_string(packing) +
               ", shuffle " + std::to_string(shuffle));
  const std::string path = write_corpus("redeal.jsonl", 700, 31);
  const size_t expected_rows = non_blank_lines(path).size();
  PipelineOptions options;
  options.max_length = 256;
  options.truncation = Truncation::right;
  options.packing = packing;
  options.packing_buffer = 25;
  auto reader_options = [&](int rank, int world) {
    ReaderOptions o;
    o.rank = rank;
    o.world_size = world;
    o.chunk_bytes = 4096;
    o.shuffle = shuffle;
    o.shuffle_buffer_size = 30;
    o.data_seed = 9;
    return o;
  };
  std::mutex mutex;
  std::vector<uint64_t> used;  // global row index of every sample that went into a training row
  auto take = [&](const PackedRow& row) {
    std::lock_guard<std::mutex> lock(mutex);
    for (const RowRef& ref : row.sources) used.push_back(ref.row);
  };
  std::vector<PipelineCursor> cursors(static_cast<size_t>(from));
  SimulatedWorld first(from);
  first.run([&](int rank) {
    ShardReader reader({{path, std::nullopt, std::nullopt}}, reader_options(rank, from), first.exchange_for(rank));
    FixtureTemplate fixture;  // the tokenizer's cache is per thread
    DataPipeline pipeline(reader, fixture.chat, options);
    pipeline.start_epoch(2);
    for (int i = 0; i < 40 + 23 * rank; ++i)
      if (auto row = pipeline.next()) take(*row);
    cursors[static_cast<size_t>(rank)] = PipelineCursor::from_json(pipeline.cursor().to_json());
  });
  std::vector<std::vector<std::vector<int32_t>>> after_restore_point(static_cast<size_t>(to));
  std::vector<nlohmann::json> mid_cursors(static_cast<size_t>(to));
  SimulatedWorld second(to);
  second.run([&](int rank) {
    ShardReader reader({{path, std::nullopt, std::nullopt}}, reader_options(rank, to), second.exchange_for(rank));
    FixtureTemplate fixture;  // the tokenizer's cache is per thread
    DataPipeline pipeline(reader, fixture.chat, options);
    pipeline.redeal(cursors, rank);
    std::vector<std::vector<int32_t>> rows;
    while (true) {
      if (rows.size() == 7) mid_cursors[static_cast<size_t>(rank)] = pipeline.cursor().to_json();
      std::optional<PackedRow> row = pipeline.next();
      if (!row) break;
      take(*row);
      rows.push_back(row->input_ids);
    }
    after_restore_point[static_cast<size_t>(rank)] = rows;
  });
  std::sort(used.begin(), used.end());
  std::vector<uint64_t> every(expected_rows);
  for (size_t i = 0; i < expected_rows; ++i) every[i] = i;
  EXPECT_TRUE(used == every) << "every row of the epoch exactly once over the two runs: " << used.size() << " used, "
                             << every.size() << " rows";

  // A cursor taken after the redeal (same world size) continues exactly.
  SimulatedWorld third(to);
  third.run([&](int rank) {
    ShardReader reader({{path, std::nullopt, std::nullopt}}, reader_options(rank, to), third.exchange_for(rank));
    if (mid_cursors[static_cast<size_t>(rank)].is_null()) return;
    FixtureTemplate fixture;  // the tokenizer's cache is per thread
    DataPipeline pipeline(reader, fixture.chat, options);
    pipeline.restore(PipelineCursor::from_json(mid_cursors[static_cast<size_t>(rank)]));
    std::vector<std::vector<int32_t>> rest;
    while (auto row = pipeline.next()) rest.push_back(row->input_ids);
    const auto& all = after_restore_point[static_cast<size_t>(rank)];
    std::lock_guard<std::mutex> lock(mutex);
    const std::vector<std::vector<int32_t>> expected(all.begin() + 7, all.end());
    size_t same = 0;
    while (same < std::min(rest.size(), expected.size()) && rest[same] == expected[same]) ++same;
    EXPECT_TRUE(rest == expected) << "rank " << rank << ": " << rest.size() << " rows after restoring, " << expected.size()
                                  << " expected; the first " << same << " agree";
  });
}

TEST(Pipeline, RedealAcrossWorldSizesUsesEveryRowOnce) {
  check_redeal(2, 3, false, true);
  check_redeal(2, 3, true, true);
  check_redeal(3, 2, true, false);
  check_redeal(4, 1, false, false);
}

}  // namespace
