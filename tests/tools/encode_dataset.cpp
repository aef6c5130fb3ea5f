// Encodes dataset files with ztune's data pipeline (one process, no shuffling) and writes one JSON line
// per produced row, for tests/python/encoding_parity.py.
// usage: ztune_encode_dataset MODEL_DIR TEMPLATE LOSS_SCALE MAX_LENGTH PACKING_LENGTH(0=off) OUT.jsonl FILE...
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s MODEL_DIR TEMPLATE LOSS_SCALE MAX_LENGTH PACKING_LENGTH OUT.jsonl FILE...\n", argv[0]);
    return 2;
  }
  try {
    std::string model_dir = argv[1];
    zt::data::Tokenizer tokenizer = zt::data::Tokenizer::load(model_dir);
    zt::data::SpecialTokens special = zt::data::read_special_tokens(model_dir, tokenizer);
    zt::data::ChatTemplate chat(zt::data::template_by_name(argv[2]), tokenizer, std::nullopt, special.eos_id);
    std::vector<zt::data::DatasetSource> sources;
    for (int i = 7; i < argc; ++i) sources.push_back(zt::data::parse_dataset_spec(argv[i]));
    zt::data::ReaderOptions reader_options;
    reader_options.shuffle = false;
    zt::data::ShardReader reader(sources, reader_options, [](const std::vector<uint64_t>& v) { return v; });
    zt::data::PipelineOptions options;
    options.loss_scale = zt::data::parse_loss_scale(argv[3]);
    options.max_length = std::atoi(argv[4]);
    options.packing_length = std::atoi(argv[5]);
    options.packing = options.packing_length > 0;
    zt::data::DataPipeline pipeline(reader, chat, options);
    std::ofstream out(argv[6]);
    double pipeline_seconds = 0;
    while (true) {
      auto start = std::chrono::steady_clock::now();
      std::optional<zt::data::PackedRow> row = pipeline.next();
      pipeline_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (!row) break;
      nlohmann::json sources_json = nlohmann::json::array();
      for (const auto& ref : row->sources) sources_json.push_back({reader.file_paths()[ref.file], ref.line});
      out << nlohmann::json{{"sources", sources_json},
                            {"input_ids", row->input_ids},
                            {"labels", row->labels},
                            {"position_ids", row->position_ids},
                            {"cu_seqlens", row->cu_seqlens}}
                 .dump()
          << "\n";
    }
    nlohmann::json summary = {{"summary", pipeline.stats().summary()},
                              {"rows_used", pipeline.stats().rows_used},
                              {"pipeline_seconds", pipeline_seconds}};
    if (auto fill = pipeline.fill_ratio()) summary["fill_ratio"] = *fill;
    out << summary.dump() << "\n";
    std::printf("%s; pipeline %.3f s\n", pipeline.stats().summary().c_str(), pipeline_seconds);
  } catch (const zt::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  }
  return 0;
}
