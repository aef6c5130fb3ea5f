// libFuzzer target over the row parser and format converter: any line is converted or classified as a
// bad row; nothing else may happen (no crash, no exception other than a classified skip).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "data/formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  zt::data::FormatOptions options;
  options.max_line_bytes = 1 << 16;
  zt::data::ConvertResult result = zt::data::convert_line(line, options);
  if (result.ok()) {
    for (const zt::data::Message& message : result.conversation.messages) (void)message.content.size();
  }
  options.require_reply = false;
  (void)zt::data::convert_line(line, options);
  return 0;
}
