// Run under mpirun: each rank streams its share of a dataset for two epochs and writes the rows it got
// (as "epoch<TAB>line") and the byte ranges it read to OUT_DIR/rank-R.txt, for tests/python/check_shards.py.
// usage: ztune_shard_probe DATASET.jsonl OUT_DIR CHUNK_BYTES
#include <cstdio>
#include <fstream>
#include <string>

#include "core/check.h"
#include "data/shard_reader.h"
#include "dist/comm.h"
#include "dist/run_context.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DATASET OUT_DIR CHUNK_BYTES\n", argv[0]);
    return 2;
  }
  zt::dist::RunContext context = zt::dist::RunContext::start();
  const zt::dist::LaunchEnv& env = context.launch();
  zt::data::ReaderOptions options;
  options.rank = env.rank;
  options.world_size = env.world_size;
  options.chunk_bytes = std::stoull(argv[3]);
  zt::data::ShardReader reader({{argv[1], std::nullopt}}, options, [&](const std::vector<uint64_t>& mine) {
    return context.comm().all_gather_values(mine);
  });
  std::ofstream out(std::string(argv[2]) + "/rank-" + std::to_string(env.rank) + ".txt");
  for (uint32_t epoch = 0; epoch < 2; ++epoch) {
    reader.start_epoch(epoch);
    size_t first_range = reader.io().stream_ranges.size();
    while (auto row = reader.next()) out << "row\t" << epoch << "\t" << row->ref.line << "\n";
    for (size_t i = first_range; i < reader.io().stream_ranges.size(); ++i)
      out << "range\t" << epoch << "\t" << reader.io().stream_ranges[i].first << "\t" << reader.io().stream_ranges[i].second
          << "\n";
  }
  out << "index_bytes\t" << reader.io().index_bytes << "\n";
  return 0;
}
