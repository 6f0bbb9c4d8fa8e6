// SHA-256 against the FIPS 180-4 example vectors.
#include <gtest/gtest.h>

#include "common/sha256.h"

using grpo::sha256_hex;

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding spills into a second block.
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

// The incremental form gives the same digest however the input is cut.
TEST(Sha256, IncrementalEqualsOneShot) {
  const std::string text(4099, 'x');
  grpo::Sha256 h;
  for (size_t at = 0; at < text.size(); at += 1000) h.update(text.substr(at, 1000));
  EXPECT_EQ(h.hex(), sha256_hex(text));
}
