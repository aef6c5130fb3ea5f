// Encodes a corpus with ztune's tokenizer, for parity tests and the tokenizer benchmark.
// usage: ztune_tokenize_corpus TOKENIZER_JSON CORPUS.bin OUT.bin [--repeat N]
// CORPUS.bin: records of (uint32 little-endian byte length, bytes). OUT.bin: records of (uint32 count,
// int32 ids...), then for each record the decode of its ids as (uint32 length, bytes).
// Prints the encode throughput (MB/s, one thread) of the last repetition.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "data/tokenizer.h"

namespace {

int run(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s TOKENIZER_JSON CORPUS.bin OUT.bin [--repeat N]\n", argv[0]);
    return 2;
  }
  int repeat = 1;
  if (argc == 6 && std::strcmp(argv[4], "--repeat") == 0) repeat = std::atoi(argv[5]);
  zt::data::Tokenizer tokenizer = zt::data::Tokenizer::load(argv[1]);
  std::ifstream in(argv[2], std::ios::binary);
  std::vector<std::string> records;
  uint32_t length = 0;
  size_t total_bytes = 0;
  while (in.read(reinterpret_cast<char*>(&length), 4)) {
    std::string record(length, '\0');
    in.read(record.data(), length);
    total_bytes += length;
    records.push_back(std::move(record));
  }
  std::vector<std::vector<int32_t>> encoded(records.size());
  double seconds = 0;
  for (int r = 0; r < repeat; ++r) {
    zt::data::Tokenizer fresh = tokenizer;  // a cold word cache each repetition, like a fresh HF tokenizer
    auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < records.size(); ++i) {
      encoded[i].clear();
      fresh.encode_into(records[i], encoded[i]);
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::ofstream out(argv[3], std::ios::binary);
  for (const auto& ids : encoded) {
    uint32_t count = static_cast<uint32_t>(ids.size());
    out.write(reinterpret_cast<const char*>(&count), 4);
    out.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 4));
  }
  for (const auto& ids : encoded) {
    std::string text = tokenizer.decode(ids);
    uint32_t size = static_cast<uint32_t>(text.size());
    out.write(reinterpret_cast<const char*>(&size), 4);
    out.write(text.data(), size);
  }
  std::printf("records %zu bytes %zu seconds %.6f MB/s %.3f\n", records.size(), total_bytes, seconds,
              total_bytes / 1e6 / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const zt::Error& error) {  // a bad tokenizer or corpus: the message names it
    std::fprintf(stderr, "error: %s\n", error.what());
    return 2;
  }
}
