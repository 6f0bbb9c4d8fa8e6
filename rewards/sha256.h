// SHA-256 (FIPS 180-4), to record which reward script produced each score.
#pragma once

#include <string>
#include <string_view>

namespace grpo::rewards {

// Lower-case hex digest of `data`.
std::string sha256_hex(std::string_view data);

}  // namespace grpo::rewards
