#include "model/decoder_layer.h"

#include "model/packed_ffn.h"

namespace grpo::model {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t layer_index)
    : tap_scope("model.layers." + std::to_string(layer_index)) {
  self_attn = register_module("self_attn", MLA(c));
  self_attn->tap_scope = tap_scope + ".self_attn";
  if (c.is_moe_layer(layer_index))
    mlp_moe = register_module("mlp", MoE(c));
  else
    mlp_dense = register_module("mlp", MLP(c.hidden_size, c.intermediate_size));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::ffn(const torch::Tensor& h, RouterOutput* routing, const PackedFFN* layout,
                                    ActivationTap* tap) {
  auto x = post_attention_layernorm(h);
  tap_record(tap, tap_scope, "post_attention_layernorm", x);
  torch::Tensor y;  // [B, S, hidden]
  if (mlp_moe)
    y = mlp_moe->forward(x, routing, layout);
  else
    y = layout ? layout->dense->forward(x) : mlp_dense(x);
  tap_record(tap, tap_scope, "mlp", y);
  return h + y;
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& allowed, RouterOutput* routing, ActivationTap* tap) {
  auto x = input_layernorm(h);
  tap_record(tap, tap_scope, "input_layernorm", x);
  auto h1 = h + self_attn->forward(x, cos, sin, allowed, tap);
  auto out = ffn(h1, routing, nullptr, tap);
  if (tap) tap->record(tap_scope, out);
  return out;
}

torch::Tensor DecoderLayerImpl::forward_absorbed(const torch::Tensor& h, const LatentStep& step, size_t cache_layer,
                                                 RouterOutput* routing) {
  auto x = input_layernorm(h);
  tap_record(step.tap, tap_scope, "input_layernorm", x);
  auto h1 = h + self_attn->forward_absorbed(x, step, cache_layer);
  const bool packed = step.ffn_layout && cache_layer < step.ffn_layout->size();
  auto out = ffn(h1, routing, packed ? &(*step.ffn_layout)[cache_layer] : nullptr, step.tap);
  if (step.tap) step.tap->record(tap_scope, out);
  return out;
}

}  // namespace grpo::model
