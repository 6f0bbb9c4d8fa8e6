// Multi-Token Prediction module (spec §5): a full decoder layer fed with
// eh_proj([enorm(Emb(t_{i+k})) ; hnorm(h_i^{k-1})]) (embedding first), predicting t_{i+k+1}
// through shared_head.norm and the shared lm_head. Stored at layer index num_hidden_layers+k-1.
#pragma once

#include <torch/torch.h>

#include "model/decoder_layer.h"

namespace grpo::model {

class SharedHeadImpl : public torch::nn::Module {
 public:
  SharedHeadImpl(int64_t hidden_size, double eps) { norm = register_module("norm", RMSNorm(hidden_size, eps)); }
  RMSNorm norm{nullptr};  // the head itself is the main model's lm_head
};
TORCH_MODULE(SharedHead);

class MTPLayerImpl : public DecoderLayerImpl {
 public:
  MTPLayerImpl(const ModelConfig& config, int64_t layer_index);

  // h_prev: [B, S, hidden] (main model: the lm_head input); emb_next: [B, S, hidden] = Emb(t_{i+k}).
  // Returns h^k [B, S, hidden], before shared_head.norm.
  torch::Tensor forward_mtp(const torch::Tensor& h_prev, const torch::Tensor& emb_next, const torch::Tensor& cos,
                            const torch::Tensor& sin, const torch::Tensor& allowed, RouterOutput* routing = nullptr,
                            ActivationTap* tap = nullptr);
  // The same block on the inference path (DecoderLayerImpl::forward_absorbed over cache layer
  // `cache_layer` of step.cache): what speculative decoding drafts with.
  torch::Tensor forward_mtp_absorbed(const torch::Tensor& h_prev, const torch::Tensor& emb_next, const LatentStep& step,
                                     size_t cache_layer);
  // The block's input, shared by both: eh_proj([enorm(emb_next) ; hnorm(h_prev)]) [B, S, hidden].
  torch::Tensor input(const torch::Tensor& h_prev, const torch::Tensor& emb_next, ActivationTap* tap = nullptr);

  RMSNorm enorm{nullptr}, hnorm{nullptr};
  torch::nn::Linear eh_proj{nullptr};  // [hidden, 2·hidden]: columns [0, hidden) act on enorm(emb)
  SharedHead shared_head{nullptr};
};
TORCH_MODULE(MTPLayer);

// L_MTP = (λ/D) Σ_k L^k, L^k = −(1/T) Σ_i log P^k_i[t_{i+k+1}] (spec §5.2), per sequence with T its
// number of valid tokens (the full length, although only T−k−1 terms exist), averaged over the batch.
// logits[k-1]: [B, S, V] from module k (position i predicts t_{i+k+1}); tokens: [B, S];
// mask: [B, S] (1 = real token) or undefined for all valid.
torch::Tensor mtp_loss(const std::vector<torch::Tensor>& logits, const torch::Tensor& tokens, const torch::Tensor& mask,
                       double lambda);

}  // namespace grpo::model
