// The DeepSeek-V3 causal LM (spec §2): embed_tokens -> decoder layers -> norm -> lm_head, plus the
// MTP modules. Two forwards:
//  - forward() / forward_mtp(): training and scoring, attention over expanded keys/values; also the
//    reference the inference path is tested against;
//  - forward_latent() / forward_mtp_latent(): THE inference path (absorbed attention over a
//    LatentStore). Rollouts run it over the paged cache (rollout/paged_forward.h); forward_cached()
//    runs it over a contiguous LatentCache (tests, benchmarks).
// Module and parameter names match transformers' DeepseekV3ForCausalLM
// (`model.layers.N.self_attn.q_a_proj.weight`, ...); the MTP modules live in `mtp.K.*` here and
// map to `model.layers.{num_hidden_layers+K}.*` in checkpoints (model/weights.h).
#pragma once

#include <torch/torch.h>

#include "model/activation_tap.h"
#include "model/config.h"
#include "model/decoder_layer.h"
#include "model/latent_cache.h"
#include "model/latent_store.h"
#include "model/mtp.h"
#include "model/rope.h"

namespace grpo::model {

class DeepseekV3ModelImpl : public torch::nn::Module {
 public:
  explicit DeepseekV3ModelImpl(const ModelConfig& config);
  torch::nn::Embedding embed_tokens{nullptr};  // [V, hidden]
  torch::nn::ModuleList layers{nullptr};       // num_hidden_layers × DecoderLayer
  RMSNorm norm{nullptr};
};
TORCH_MODULE(DeepseekV3Model);

// What a forward pass returns.
struct LMOutput {
  torch::Tensor logits;  // [B, S, V]
  torch::Tensor hidden;  // [B, S, hidden], after model.norm (the lm_head input)
  // One entry per main layer when routing was requested; MoE layers have defined tensors
  // (scores [B·S, E], indices/weights [B·S, K]), dense layers undefined ones.
  std::vector<RouterOutput> routing;
};

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(const ModelConfig& config);

  // Training/scoring path. tokens: [B, S] int64. attention_mask: [B, S] (1 = real token, 0 = padding),
  // undefined = all real. positions: [B, S] int64, undefined = 0..S-1 (pass cumsum(mask)-1 for left padding).
  // `tap` (null: off) records the named intermediates (model/activation_tap.h).
  LMOutput forward(const torch::Tensor& tokens, const torch::Tensor& attention_mask = {},
                   const torch::Tensor& positions = {}, bool want_routing = false, ActivationTap* tap = nullptr);

  // The inference forward of the main model: tokens [B, S] through every main layer's absorbed
  // attention against step.cache (cache layers 0..L-1; step carries cos/sin for the tokens'
  // positions and the [B, S, T] mask), then norm and lm_head.
  LMOutput forward_latent(const torch::Tensor& tokens, const LatentStep& step, bool want_routing = false);
  // The inference forward of MTP module 1 (cache layer L): at position i, from the main model's
  // hidden h_i (h_main [B, S, hidden], the lm_head input) and the next token t_{i+1}
  // (next_tokens [B, S]), the logits for t_{i+2} [B, S, V]; as forward_mtp's first module.
  torch::Tensor forward_mtp_latent(const torch::Tensor& h_main, const torch::Tensor& next_tokens,
                                   const LatentStep& step);

  // forward_latent over a contiguous LatentCache: appends these S tokens at slot cache.length
  // (prefill: S = prompt or a chunk of it; decode step: S = 1) and returns their logits.
  // positions undefined = cache.length + 0..S-1.
  LMOutput forward_cached(const torch::Tensor& tokens, LatentCache& cache, const torch::Tensor& attention_mask = {},
                          const torch::Tensor& positions = {}, bool want_routing = false, ActivationTap* tap = nullptr);

  // MTP logits: module k (1-based) at position i predicts t_{i+k+1}; chained through h^{k-1}.
  // `main` is the forward() output for the same tokens/mask/positions. Returns D tensors [B, S, V]
  // (positions whose input token t_{i+k} lies past the end see token 0 and are meaningless).
  std::vector<torch::Tensor> forward_mtp(const LMOutput& main, const torch::Tensor& tokens,
                                         const torch::Tensor& attention_mask = {}, const torch::Tensor& positions = {},
                                         std::vector<RouterOutput>* routing = nullptr);

  // Casts parameters to `dtype` but keeps the routing biases in FP32 (spec §4.2).
  void to_dtype(torch::ScalarType dtype);

  // Main layers that are MoE layers, in order (for bias updates and load statistics).
  std::vector<MoE> moe_layers();

  const RotaryEmbedding& rotary() const { return rotary_; }

  const ModelConfig config;
  DeepseekV3Model model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // [V, hidden]
  torch::nn::ModuleList mtp{nullptr};  // num_nextn_predict_layers × MTPLayer

 private:
  RotaryEmbedding rotary_;
  torch::Tensor default_positions(const torch::Tensor& tokens, int64_t start) const;
};
TORCH_MODULE(CausalLM);

// allowed[b, s, t] = key t is visible from query s: t <= s + start, key t is real, or t is the
// query itself (so padded queries never see an empty row). key_valid: [B, T]. Returns [B, S, T].
torch::Tensor causal_allowed(const torch::Tensor& key_valid, int64_t start, int64_t s_new);

}  // namespace grpo::model
