#include "hub/block_hash.h"

#include <fstream>
#include <vector>

#include "core/check.h"

namespace zt::hub {

std::string hex_text(const uint8_t* bytes, size_t size) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) out += digits[bytes[i] >> 4], out += digits[bytes[i] & 15];
  return out;
}

void read_file_pieces(const std::string& path, const std::function<void(const char* data, size_t size)>& consume) {
  std::ifstream in(path, std::ios::binary);
  ZT_REQUIRE(in.good(), path << ": cannot open");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    consume(buffer.data(), static_cast<size_t>(in.gcount()));
  }
}

}  // namespace zt::hub
