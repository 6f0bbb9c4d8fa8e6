#include "model/latent_cache.h"

#include <algorithm>

#include "common/error.h"

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

std::pair<torch::Tensor, torch::Tensor> ContiguousLatentStore::write_and_read(size_t layer, const torch::Tensor& c_kv,
                                                                              const torch::Tensor& k_pe) {
  GRPO_CHECK(layer < cache_.kv.size(), "latent cache has no layer " + std::to_string(layer));
  cache_.kv[layer].narrow(1, start_, s_new_).copy_(c_kv);
  cache_.pe[layer].narrow(1, start_, s_new_).copy_(k_pe);
  return {cache_.kv[layer].narrow(1, 0, start_ + s_new_), cache_.pe[layer].narrow(1, 0, start_ + s_new_)};
}

PagedLatentCache PagedLatentCache::allocate(const ModelConfig& c, int64_t layers, int64_t budget_bytes,
                                            int64_t page_size, torch::TensorOptions options) {
  GRPO_CHECK(page_size >= 1 && layers >= 1, "paged cache: page_size and layers must be >= 1");
  const int64_t per_token = (c.kv_lora_rank + c.qk_rope_head_dim) * layers * options.dtype().itemsize();
  PagedLatentCache cache;
  cache.page_size = page_size;
  cache.num_pages_ = std::max<int64_t>(1, budget_bytes / (per_token * page_size));
  const int64_t slots = 1 + cache.num_pages_ * page_size;  // + the scratch slot
  // Uninitialised: every slot a sequence reads was written first (its prompt copy or its own
  // steps); only the scratch slot, which masked padding reads, starts at zero (no NaN · 0).
  for (int64_t l = 0; l < layers; ++l) {
    cache.kv.push_back(torch::empty({slots, c.kv_lora_rank}, options));
    cache.pe.push_back(torch::empty({slots, c.qk_rope_head_dim}, options));
    cache.kv.back()[0].zero_();
    cache.pe.back()[0].zero_();
  }
  for (int64_t p = cache.num_pages_ - 1; p >= 0; --p) cache.free_.push_back(p);
  return cache;
}

int64_t PagedLatentCache::bytes_per_token() const {
  int64_t bytes = 0;
  for (size_t l = 0; l < kv.size(); ++l)
    bytes += kv[l].size(1) * kv[l].element_size() + pe[l].size(1) * pe[l].element_size();
  return bytes;
}

std::vector<int64_t> PagedLatentCache::take(int64_t n) {
  if (n > pages_free())
    throw Error("paged latent cache: " + std::to_string(n) + " pages wanted, " + std::to_string(pages_free()) +
                " free of " + std::to_string(num_pages_) + " (raise the cache budget)");
  std::vector<int64_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - static_cast<size_t>(n));
  return out;
}

void PagedLatentCache::give_back(const std::vector<int64_t>& pages) {
  free_.insert(free_.end(), pages.begin(), pages.end());
}

}  // namespace grpo::model
