// libFuzzer target over the GGUF reader and the tokenizer conversion of `ztune export --from_gguf`: any byte
// string is either read, with every tensor's bytes inside the file and its values decodable, and its tokenizer
// converted or refused, or rejected with zt::Error. AddressSanitizer catches any read outside the input.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/check.h"
#include "export/gguf.h"
#include "export/gguf_vocab_to_hf.h"

static std::string g_path;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_path = "fuzz-gguf-" + std::to_string(::getpid()) + ".gguf";  // File::open maps a path
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::FILE* handle = std::fopen(g_path.c_str(), "wb");
  if (handle == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, handle) != size) std::abort();
  std::fclose(handle);
  try {
    const zt::exporting::gguf::File file = zt::exporting::gguf::File::open(g_path);
    uint64_t checksum = 0;
    for (const zt::exporting::gguf::TensorInfo& info : file.tensors()) {
      const uint8_t* bytes = file.data(info);
      if (info.num_bytes > 0) checksum += bytes[0] + bytes[info.num_bytes - 1];
      if (info.num_elements <= (1u << 16)) {
        try {
          const std::vector<float> values = file.dequantize(info);
          if (values.size() != info.num_elements) std::abort();
        } catch (const zt::Error&) {
        }
      }
    }
    (void)checksum;
    for (const char* model_type : {"llama", "qwen2"}) {
      try {
        zt::exporting::gguf_tokenizer_to_hf(file, model_type, 2048);
      } catch (const zt::Error&) {
      }
    }
  } catch (const zt::Error&) {
  }
  return 0;
}
