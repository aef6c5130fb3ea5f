// TensorBoard event files (what torch's SummaryWriter writes and tensorboard's event reader reads):
// a TFRecord stream of Event protocol buffers holding scalar summaries, encoded here by hand.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace zt::train {

class EventWriter {
 public:
  // Creates `dir` and an events.out.tfevents.<time>.<host>.<pid> file in it.
  explicit EventWriter(const std::string& dir);
  void add_scalar(const std::string& tag, double value, int64_t step);
  void flush();
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& event);
  std::string path_;
  std::ofstream out_;
};

// CRC-32C (Castagnoli) of `size` bytes, and the masked form TFRecord stores; exposed for tests.
uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace zt::train
