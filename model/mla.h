// Multi-head Latent Attention (spec §3). Two paths that compute the same function:
//  - forward():          training path, full keys/values expanded through kv_b_proj (spec §3.3),
//                        as transformers computes it: also the reference the inference path is
//                        tested against (tests/unit/model/test_latent_cache.cpp);
//  - forward_absorbed(): THE inference path, over a latent store holding only the normalised KV
//                        latent and the rotated k_pe per token, with kv_b_proj absorbed into
//                        the query (W_UK) and the output (W_UV) (spec §3.4, docs/mla_cache.md).
//                        Rollouts (paged cache) and CausalLMImpl::forward_cached (contiguous
//                        cache) both run it; they differ only in their LatentStore.
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/activation_tap.h"
#include "model/config.h"
#include "model/latent_store.h"
#include "model/rms_norm.h"

namespace grpo::model {

class MLAImpl : public torch::nn::Module {
 public:
  explicit MLAImpl(const ModelConfig& config);

  // x: [B, S, hidden]; cos/sin: [B, S, R/2]; allowed: [B, S, S] bool (true = may attend).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed, ActivationTap* tap = nullptr);

  // Stores this call's S latents in layer `cache_layer` of step.cache and attends over the rows
  // the store returns (step.allowed [B, S, T]). x: [B, S, hidden]. Inference only.
  torch::Tensor forward_absorbed(const torch::Tensor& x, const LatentStep& step, size_t cache_layer);

  // The absorbed attention core: q_nope [B, S, H, nope], q_pe [B, S, H, R] over cached kv
  // [B, T, kv_lora_rank] and pe [B, T, R] -> o_proj output [B, S, hidden].
  torch::Tensor attend_absorbed(const torch::Tensor& q_nope, const torch::Tensor& q_pe, const torch::Tensor& kv,
                                const torch::Tensor& pe, const torch::Tensor& allowed, ActivationTap* tap = nullptr);

  // Query heads: q_nope [B, S, H, nope] and rotated q_pe [B, S, H, R].
  std::pair<torch::Tensor, torch::Tensor> project_q(const torch::Tensor& x, const torch::Tensor& cos,
                                                    const torch::Tensor& sin, ActivationTap* tap = nullptr);
  // What the cache holds: normalised latent c_kv [B, S, kv_lora_rank] and rotated k_pe [B, S, R].
  std::pair<torch::Tensor, torch::Tensor> project_kv_latent(const torch::Tensor& x, const torch::Tensor& cos,
                                                            const torch::Tensor& sin, ActivationTap* tap = nullptr);

  // This module's Hugging Face path ("model.layers.3.self_attn") for ActivationTap records; the
  // decoder layer sets it.
  std::string tap_scope = "self_attn";

  torch::nn::Linear q_proj{nullptr};              // q_lora_rank = 0: [H·(nope+R), hidden]
  torch::nn::Linear q_a_proj{nullptr};            // [q_lora_rank, hidden]
  RMSNorm q_a_layernorm{nullptr};                 // [q_lora_rank]
  torch::nn::Linear q_b_proj{nullptr};            // [H·(nope+R), q_lora_rank]
  torch::nn::Linear kv_a_proj_with_mqa{nullptr};  // [kv_lora_rank + R, hidden]
  RMSNorm kv_a_layernorm{nullptr};                // [kv_lora_rank]
  torch::nn::Linear kv_b_proj{nullptr};           // [H·(nope+v), kv_lora_rank], per head [k_nope rows ; v rows]
  torch::nn::Linear o_proj{nullptr};              // [hidden, H·v]

 private:
  int64_t heads_, nope_, rope_, v_, kv_rank_;
  double scale_;
};
TORCH_MODULE(MLA);

// Softmax over the last dim of `scores` with −inf where !allowed, in FP32 (or FP64).
// scores: [B, H, S, T]; allowed: [B, S, T]. Returns probabilities in the scores' dtype.
torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& allowed);

}  // namespace grpo::model
