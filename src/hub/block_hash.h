// What SHA-1 and SHA-256 share (FIPS 180-4): the message in 64-byte blocks, padded with 0x80, zeros and its
// big-endian bit length; the digest is the state words, big-endian. `Hash` supplies block(const uint8_t*), which
// folds one block into state_.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace zt::hub {

template <class Hash, size_t Words>
class BlockHash {
 public:
  void update(const void* data, size_t size) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    length_ += size;
    while (size > 0) {
      const size_t take = std::min(size, buffer_.size() - buffered_);
      std::memcpy(buffer_.data() + buffered_, bytes, take);
      buffered_ += take, bytes += take, size -= take;
      if (buffered_ == buffer_.size()) static_cast<Hash*>(this)->block(buffer_.data()), buffered_ = 0;
    }
  }

  std::array<uint8_t, 4 * Words> finish() {
    const uint64_t bits = length_ * 8;
    const uint8_t one = 0x80, zero = 0;
    update(&one, 1);
    while (buffered_ != 56) update(&zero, 1);
    uint8_t length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    update(length, 8);
    std::array<uint8_t, 4 * Words> digest{};
    for (size_t i = 0; i < Words; ++i)
      for (size_t j = 0; j < 4; ++j) digest[4 * i + j] = static_cast<uint8_t>(state_[i] >> (24 - 8 * j));
    return digest;
  }

 protected:
  explicit BlockHash(const std::array<uint32_t, Words>& initial) : state_(initial) {}
  std::array<uint32_t, Words> state_;

 private:
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t length_ = 0;
};

// Lower-case hex of the bytes.
std::string hex_text(const uint8_t* bytes, size_t size);
// The file's bytes handed to `consume` a MiB at a time; a zt::Error names the file when it cannot be read.
void read_file_pieces(const std::string& path, const std::function<void(const char* data, size_t size)>& consume);

}  // namespace zt::hub
