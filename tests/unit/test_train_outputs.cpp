// Pieces of the trainer's outputs that have published reference values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "train/plot.h"
#include "train/tensorboard.h"

// CRC-32C check value from RFC 3720 (iSCSI) and the standard "123456789" vector.
TEST(TensorBoard, Crc32cMatchesPublishedVectors) {
  EXPECT_EQ(zt::train::crc32c("123456789", 9), 0xE3069283u);
  unsigned char zeros[32] = {};
  EXPECT_EQ(zt::train::crc32c(zeros, sizeof zeros), 0x8A9136AAu);
  unsigned char ones[32];
  std::memset(ones, 0xff, sizeof ones);
  EXPECT_EQ(zt::train::crc32c(ones, sizeof ones), 0x62A8AB43u);
}

// TensorBoard's smoothing: a debiased exponential moving average, so a constant stays constant.
TEST(Plot, SmoothingKeepsAConstantAndFollowsTheEma) {
  for (double v : zt::train::smooth({3.0, 3.0, 3.0, 3.0}, 0.9)) EXPECT_NEAR(v, 3.0, 1e-12);
  const std::vector<double> s = zt::train::smooth({1.0, 0.0}, 0.5);
  EXPECT_NEAR(s[0], 1.0, 1e-12);
  EXPECT_NEAR(s[1], (0.5 * 0.5 * 1.0 + 0.5 * 0.0) / (1 - 0.25), 1e-12);  // (0.25) / 0.75
}
