#include "model/decoder_layer.h"

namespace grpo::model {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, int64_t layer_index) {
  self_attn = register_module("self_attn", MLA(c));
  if (c.is_moe_layer(layer_index))
    mlp_moe = register_module("mlp", MoE(c));
  else
    mlp_dense = register_module("mlp", MLP(c.hidden_size, c.intermediate_size));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor DecoderLayerImpl::ffn(const torch::Tensor& h, RouterOutput* routing) {
  auto x = post_attention_layernorm(h);
  return h + (mlp_moe ? mlp_moe->forward(x, routing) : mlp_dense(x));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& h, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& allowed, RouterOutput* routing) {
  auto h1 = h + self_attn(input_layernorm(h), cos, sin, allowed);
  return ffn(h1, routing);
}

torch::Tensor DecoderLayerImpl::forward_absorbed(const torch::Tensor& h, const torch::Tensor& cos,
                                                 const torch::Tensor& sin, torch::Tensor& kv_cache,
                                                 torch::Tensor& pe_cache, int64_t start, const torch::Tensor& allowed,
                                                 RouterOutput* routing) {
  auto h1 = h + self_attn->forward_absorbed(input_layernorm(h), cos, sin, kv_cache, pe_cache, start, allowed);
  return ffn(h1, routing);
}

}  // namespace grpo::model
