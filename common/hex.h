// Lower-case hex text <-> bytes: digests (SHA-256), NCCL unique ids passed through messages and
// environment variables, key derivation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace grpo {

std::string bytes_to_hex(const void* data, size_t bytes);
std::vector<uint8_t> hex_to_bytes(const std::string& hex);  // throws grpo::Error on a bad digit or odd length

}  // namespace grpo
