// SHA-1 (FIPS 180-4), for the git blob ids the Hugging Face hub gives files kept outside LFS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace zt::hub {

class Sha1 {
 public:
  Sha1();
  void update(const void* data, size_t size);
  std::array<uint8_t, 20> finish();

 private:
  void block(const uint8_t* data);
  std::array<uint32_t, 5> state_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

// git's object id of a file's bytes: sha1("blob <size>\0" + bytes), hex. A zt::Error names the file when unreadable.
std::string git_blob_sha1_file_hex(const std::string& path);

}  // namespace zt::hub
