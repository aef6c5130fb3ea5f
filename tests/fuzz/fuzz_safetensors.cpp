// libFuzzer target over the safetensors reader: any byte string is either accepted, with every tensor's
// bytes inside the buffer, or rejected with zt::Error. AddressSanitizer catches any out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/check.h"
#include "core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    zt::st::View view = zt::st::View::parse(data, size, "fuzz-input");
    uint64_t checksum = 0;
    for (const zt::st::TensorInfo& info : view.tensors()) {
      const uint8_t* bytes = view.data(info);
      // Touch the first and last byte of every tensor: ASan reports if either lies outside the input.
      if (info.nbytes() > 0) checksum += bytes[0] + bytes[info.nbytes() - 1];
      if (view.find(info.name) != &info) std::abort();
    }
    (void)checksum;
  } catch (const zt::Error&) {
  }
  return 0;
}
