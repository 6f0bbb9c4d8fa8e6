// The one inference forward (CausalLMImpl::forward_latent, MLAImpl::forward_absorbed) is written
// against these two types, so that the contiguous cache (model/latent_cache.h, tests and scoring)
// and the rollout engine's paged cache (rollout/paged_forward.h) run the same attention core,
// decoder block, MTP block and FFN code; only where the latents are stored differs.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace grpo::model {

struct ActivationTap;
struct PackedFFN;

// Where one forward's latents go and which cached rows its queries attend over (docs/mla_cache.md).
class LatentStore {
 public:
  virtual ~LatentStore() = default;
  // Stores this call's S new latents of cache layer `layer` (main layers 0..L-1, then the MTP
  // layer): c_kv [B, S, kv_lora_rank], k_pe [B, S, R]. Returns the rows every query attends over,
  // the new ones included, in the store's dtype: kv [B, T, kv_lora_rank], pe [B, T, R]; the
  // forward's `allowed` mask [B, S, T] says which of the T each query sees.
  virtual std::pair<torch::Tensor, torch::Tensor> write_and_read(size_t layer, const torch::Tensor& c_kv,
                                                                 const torch::Tensor& k_pe) = 0;
};

// What an inference forward hands every layer.
struct LatentStep {
  torch::Tensor cos, sin;  // [B, S, R/2] for the new tokens' positions
  torch::Tensor allowed;   // [B, S, T] bool (true = may attend)
  LatentStore* cache = nullptr;
  // Per cache layer the FFN weights in their decode layout (model/packed_ffn.h); null or empty:
  // the layers' own weights.
  const std::vector<PackedFFN>* ffn_layout = nullptr;
  ActivationTap* tap = nullptr;  // null: off
};

}  // namespace grpo::model
