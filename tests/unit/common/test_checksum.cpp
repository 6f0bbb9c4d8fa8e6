#include <gtest/gtest.h>

#include "common/checksum.h"

// The standard check values of each CRC over "123456789".
TEST(Checksum, Crc32KnownValue) { EXPECT_EQ(grpo::crc32("123456789", 9), 0xCBF43926u); }
TEST(Checksum, Crc32cKnownValue) { EXPECT_EQ(grpo::crc32c("123456789", 9), 0xE3069283u); }
TEST(Checksum, EmptyInputIsZero) {
  EXPECT_EQ(grpo::crc32("", 0), 0u);
  EXPECT_EQ(grpo::crc32c("", 0), 0u);
}
