// SHA-256 (FIPS 180-4), for the hub's LFS object ids.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hub/block_hash.h"

namespace zt::hub {

class Sha256 : public BlockHash<Sha256, 8> {
 public:
  Sha256();
  static std::string hex(const std::array<uint8_t, 32>& digest);

 private:
  friend class BlockHash<Sha256, 8>;
  void block(const uint8_t* data);
};

std::string sha256_hex(std::string_view bytes);
// Streams the file; a zt::Error names it when unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace zt::hub
