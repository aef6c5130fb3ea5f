// SHA-1 (FIPS 180-4), for the git blob ids the Hugging Face hub gives files kept outside LFS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "hub/block_hash.h"

namespace zt::hub {

class Sha1 : public BlockHash<Sha1, 5> {
 public:
  Sha1();

 private:
  friend class BlockHash<Sha1, 5>;
  void block(const uint8_t* data);
};

// git's object id of a file's bytes: sha1("blob <size>\0" + bytes), hex. A zt::Error names the file when unreadable.
std::string git_blob_sha1_file_hex(const std::string& path);

}  // namespace zt::hub
