#include "common/sha256.h"

#include "common/error.h"
#include "common/hex.h"

#if defined(GRPO_HAVE_OPENSSL)
#include <openssl/evp.h>
#else
#include <sodium.h>
#endif

namespace grpo {

struct Sha256::State {
#if defined(GRPO_HAVE_OPENSSL)
  EVP_MD_CTX* ctx = nullptr;
#else
  crypto_hash_sha256_state state;
#endif
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
#if defined(GRPO_HAVE_OPENSSL)
  state_->ctx = EVP_MD_CTX_new();
  GRPO_CHECK(state_->ctx && EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) == 1,
             "EVP_DigestInit_ex(sha256) failed");
#else
  static const bool ready = sodium_init() >= 0;
  GRPO_CHECK(ready, "libsodium failed to initialise");
  crypto_hash_sha256_init(&state_->state);
#endif
}

Sha256::~Sha256() {
#if defined(GRPO_HAVE_OPENSSL)
  EVP_MD_CTX_free(state_->ctx);
#endif
}

void Sha256::update(const void* data, size_t bytes) {
#if defined(GRPO_HAVE_OPENSSL)
  GRPO_CHECK(EVP_DigestUpdate(state_->ctx, data, bytes) == 1, "EVP_DigestUpdate failed");
#else
  crypto_hash_sha256_update(&state_->state, static_cast<const unsigned char*>(data), bytes);
#endif
}

std::string Sha256::hex() {
  unsigned char digest[32];
#if defined(GRPO_HAVE_OPENSSL)
  unsigned int n = 0;
  GRPO_CHECK(EVP_DigestFinal_ex(state_->ctx, digest, &n) == 1 && n == 32, "EVP_DigestFinal_ex failed");
#else
  crypto_hash_sha256_final(&state_->state, digest);
#endif
  return bytes_to_hex(digest, sizeof digest);
}

std::string sha256_hex(const void* data, size_t bytes) {
  Sha256 h;
  h.update(data, bytes);
  return h.hex();
}

}  // namespace grpo
