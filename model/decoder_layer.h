// One decoder layer (spec §2): h += MLA(input_layernorm(h)); h += FFN(post_attention_layernorm(h)),
// FFN = dense SwiGLU for layers < first_k_dense_replace, MoE after. The MTP layer extends it.
// Training (forward) and inference (forward_absorbed) share this block and its FFN code; they
// differ only in the attention they call (MLAImpl::forward vs forward_absorbed).
#pragma once

#include <torch/torch.h>

#include <string>

#include "model/activation_tap.h"
#include "model/config.h"
#include "model/latent_store.h"
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
                        const torch::Tensor& allowed, RouterOutput* routing = nullptr, ActivationTap* tap = nullptr);
  // The inference block: absorbed-latent attention through layer `cache_layer` of step.cache
  // (see MLAImpl::forward_absorbed), the FFN in step.ffn_layout's decode layout when it has one.
  torch::Tensor forward_absorbed(const torch::Tensor& h, const LatentStep& step, size_t cache_layer,
                                 RouterOutput* routing = nullptr);

  bool is_moe() const { return !mlp_dense; }

  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  MLA self_attn{nullptr};
  MLP mlp_dense{nullptr};  // registered as "mlp" on dense layers
  MoE mlp_moe{nullptr};    // registered as "mlp" on MoE layers

  // "model.layers.{layer_index}": the Hugging Face path of this layer, for ActivationTap records.
  std::string tap_scope;

 private:
  // h + FFN(post_attention_layernorm(h)); `layout` null: the modules' own weights.
  torch::Tensor ffn(const torch::Tensor& h, RouterOutput* routing, const PackedFFN* layout, ActivationTap* tap);
};
TORCH_MODULE(DecoderLayer);

}  // namespace grpo::model
