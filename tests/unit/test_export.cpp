// Export helpers with published reference values: SHA-256 test vectors (FIPS 180-4 examples), size
// parsing as transformers reads --max_shard_size.
#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "export/merge.h"
#include "hub/sha256.h"

using zt::exporting::parse_size;
using zt::hub::sha256_hex;

TEST(Sha256, PublishedVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsWhole) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += static_cast<char>(i * 7);
  zt::hub::Sha256 hash;
  for (size_t i = 0; i < text.size(); i += 37) hash.update(text.data() + i, std::min<size_t>(37, text.size() - i));
  EXPECT_EQ(zt::hub::Sha256::hex(hash.finish()), sha256_hex(text));
}

TEST(MaxShardSize, DecimalAndBinaryUnits) {
  EXPECT_EQ(parse_size("5GB"), 5'000'000'000u);
  EXPECT_EQ(parse_size("500MB"), 500'000'000u);
  EXPECT_EQ(parse_size("2GiB"), 2147483648u);
  EXPECT_EQ(parse_size("300KB"), 300'000u);
  EXPECT_EQ(parse_size("1234"), 1234u);
  EXPECT_EQ(parse_size("1.5GB"), 1'500'000'000u);
  EXPECT_THROW(parse_size("lots"), zt::Error);
  EXPECT_THROW(parse_size("5XB"), zt::Error);
}
