// Encodes dataset files with ztune's data pipeline (one process, no shuffling) and writes one JSON line
// per produced row, for tests/python/encoding_parity.py.
// usage: ztune_encode_dataset MODEL_DIR TEMPLATE LOSS_SCALE MAX_LENGTH PACKING_LENGTH(0=off) OUT.jsonl FILE...
//        ztune_encode_dataset MODEL_DIR --jobs JOBS.json
// JOBS.json: [{"template", "loss_scale", "max_length", "packing_length", "out", "files": [...]}, ...], run in one
// process with the model folder's tokenizer loaded once (the parity tests run hundreds of encodings).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/chat_template.h"
#include "data/pipeline.h"
#include "data/shard_reader.h"
#include "data/tokenizer.h"

namespace {

struct Job {
  std::string template_name, loss_scale, out;
  int max_length = 0, packing_length = 0;
  std::vector<std::string> files;
};

void encode(const zt::data::Tokenizer& tokenizer, const zt::data::SpecialTokens& special, const Job& job) {
  zt::data::ChatTemplate chat(zt::data::template_by_name(job.template_name), tokenizer, std::nullopt, special.eos_id);
  std::vector<zt::data::DatasetSource> sources;
  for (const std::string& file : job.files) sources.push_back(zt::data::parse_dataset_spec(file));
  zt::data::ReaderOptions reader_options;
  reader_options.shuffle = false;
  zt::data::ShardReader reader(sources, reader_options, [](const std::vector<uint64_t>& v) { return v; });
  zt::data::PipelineOptions options;
  options.loss_scale = zt::data::parse_loss_scale(job.loss_scale);
  options.max_length = job.max_length;
  options.packing_length = job.packing_length;
  options.packing = options.packing_length > 0;
  zt::data::DataPipeline pipeline(reader, chat, options);
  std::ofstream out(job.out);
  ZT_REQUIRE(out, job.out << ": cannot be written");
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
}

}  // namespace

int main(int argc, char** argv) {
  const bool batch = argc == 4 && std::string(argv[2]) == "--jobs";
  if (argc < 8 && !batch) {
    std::fprintf(stderr,
                 "usage: %s MODEL_DIR TEMPLATE LOSS_SCALE MAX_LENGTH PACKING_LENGTH OUT.jsonl FILE...\n"
                 "       %s MODEL_DIR --jobs JOBS.json\n",
                 argv[0], argv[0]);
    return 2;
  }
  try {
    std::string model_dir = argv[1];
    zt::data::Tokenizer tokenizer = zt::data::Tokenizer::load(model_dir);
    zt::data::SpecialTokens special = zt::data::read_special_tokens(model_dir, tokenizer);
    std::vector<Job> jobs;
    if (batch) {
      std::ifstream in(argv[3]);
      ZT_REQUIRE(in, argv[3] << ": cannot be read");
      for (const nlohmann::json& entry : nlohmann::json::parse(in)) {
        Job job;
        job.template_name = entry.at("template").get<std::string>();
        job.loss_scale = entry.at("loss_scale").get<std::string>();
        job.max_length = entry.at("max_length").get<int>();
        job.packing_length = entry.at("packing_length").get<int>();
        job.out = entry.at("out").get<std::string>();
        job.files = entry.at("files").get<std::vector<std::string>>();
        jobs.push_back(std::move(job));
      }
    } else {
      Job job{argv[2], argv[3], argv[6], std::atoi(argv[4]), std::atoi(argv[5]), {}};
      for (int i = 7; i < argc; ++i) job.files.push_back(argv[i]);
      jobs.push_back(std::move(job));
    }
    for (const Job& job : jobs) encode(tokenizer, special, job);
  } catch (const zt::Error& error) {
    std::fprintf(stderr, "error: %s\n", error.what());
    return 1;
  } catch (const nlohmann::json::exception& error) {
    std::fprintf(stderr, "error: %s: %s\n", argv[argc - 1], error.what());
    return 1;
  }
  return 0;
}
