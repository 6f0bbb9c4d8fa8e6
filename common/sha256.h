// SHA-256, the one implementation in the project: OpenSSL's EVP (its SHA-NI path: `openssl speed`
// gave 1.1 GB/s here against 0.24 GB/s without) when built with it, else libsodium (always there:
// libzmq3-dev depends on it). Used for published weight buffers, model hashes and the reward
// script's identity.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace grpo {

// Incremental, so a receiver can hash each bucket while the next one is on the wire.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t bytes);
  void update(std::string_view text) { update(text.data(), text.size()); }
  std::string hex();  // lower-case hex digest; ends the hash (no update after it)

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Lower-case hex SHA-256 of a byte range or a string.
std::string sha256_hex(const void* data, size_t bytes);
inline std::string sha256_hex(std::string_view text) { return sha256_hex(text.data(), text.size()); }

}  // namespace grpo
