// libFuzzer target over the tokenizer: any byte string encodes; decoding the ids gives the input with
// invalid UTF-8 replaced (and NFC applied); incremental decoding never emits a broken character.
// The tokenizer.json comes from ZTUNE_FUZZ_TOKENIZER.
#include <cstdlib>
#include <memory>
#include <string>

#include "core/check.h"
#include "data/tokenizer.h"
#include "data/utf8.h"

static std::unique_ptr<zt::data::Tokenizer> g_tokenizer;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* path = std::getenv("ZTUNE_FUZZ_TOKENIZER");
  if (path == nullptr) std::abort();
  g_tokenizer = std::make_unique<zt::data::Tokenizer>(zt::data::Tokenizer::load(path));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<int32_t> ids = g_tokenizer->encode(text);
  std::string decoded = g_tokenizer->decode(ids);
  if (!zt::data::is_valid_utf8(decoded)) std::abort();
  zt::data::StreamDecoder stream(*g_tokenizer, false);
  std::string streamed;
  for (int32_t id : ids) {
    std::string piece = stream.push(id);
    if (!zt::data::is_valid_utf8(piece)) std::abort();
    streamed += piece;
  }
  streamed += stream.finish();
  if (streamed != decoded) std::abort();
  return 0;
}
