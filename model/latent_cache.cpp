#include "model/latent_cache.h"

namespace grpo::model {

LatentCache LatentCache::allocate(const ModelConfig& c, int64_t batch, int64_t max_len, torch::TensorOptions options) {
  LatentCache cache;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    cache.kv.push_back(torch::zeros({batch, max_len, c.kv_lora_rank}, options));
    cache.pe.push_back(torch::zeros({batch, max_len, c.qk_rope_head_dim}, options));
  }
  cache.valid = torch::zeros({batch, max_len}, options.dtype(torch::kBool));
  return cache;
}

int64_t LatentCache::bytes_per_token() const {
  int64_t bytes = 0;
  for (size_t l = 0; l < kv.size(); ++l)
    bytes += (kv[l].size(2) * kv[l].element_size()) + (pe[l].size(2) * pe[l].element_size());
  return bytes;
}

LatentCache LatentCache::fork(int64_t times) const {
  LatentCache out;
  for (size_t l = 0; l < kv.size(); ++l) {
    out.kv.push_back(kv[l].repeat_interleave(times, /*dim=*/0));
    out.pe.push_back(pe[l].repeat_interleave(times, /*dim=*/0));
  }
  out.valid = valid.repeat_interleave(times, /*dim=*/0);
  out.length = length;
  return out;
}

}  // namespace grpo::model
