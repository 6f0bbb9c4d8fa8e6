// One decoder layer (spec §2): h += MLA(input_layernorm(h)); h += FFN(post_attention_layernorm(h)),
// FFN = dense SwiGLU for layers < first_k_dense_replace, MoE after. The MTP layer extends it.
#pragma once

#include <torch/torch.h>

#include "model/config.h"
#include "model/mla.h"
#include "model/mlp.h"
#include "model/moe.h"
#include "model/rms_norm.h"

namespace grpo::model {

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& config, int64_t layer_index);

  // h: [B, S, hidden]; cos/sin [B, S, R/2]; allowed [B, S, S]. `routing` gets the gate's
  // decisions when this is a MoE layer.
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed, RouterOutput* routing = nullptr);
  // Same with the absorbed-latent attention over a cache (see MLAImpl::forward_absorbed).
  torch::Tensor forward_absorbed(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                                 torch::Tensor& kv_cache, torch::Tensor& pe_cache, int64_t start,
                                 const torch::Tensor& allowed, RouterOutput* routing = nullptr);

  bool is_moe() const { return !mlp_dense; }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  MLA self_attn{nullptr};
  MLP mlp_dense{nullptr};  // registered as "mlp" on dense layers
  MoE mlp_moe{nullptr};    // registered as "mlp" on MoE layers

 private:
  torch::Tensor ffn(const torch::Tensor& h, RouterOutput* routing);
};
TORCH_MODULE(DecoderLayer);

}  // namespace grpo::model
