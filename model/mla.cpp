#include "model/mla.h"

#include <limits>

#include "model/fp8_linear.h"
#include "model/rope.h"

namespace grpo::model {
namespace {
torch::nn::Linear linear(int64_t in, int64_t out) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}
}  // namespace

MLAImpl::MLAImpl(const ModelConfig& c)
    : heads_(c.num_attention_heads),
      nope_(c.qk_nope_head_dim),
      rope_(c.qk_rope_head_dim),
      v_(c.v_head_dim),
      kv_rank_(c.kv_lora_rank),
      scale_(c.softmax_scale()) {
  const int64_t q_width = heads_ * c.qk_head_dim();
  if (c.q_lora_rank > 0) {
    q_a_proj = register_module("q_a_proj", linear(c.hidden_size, c.q_lora_rank));
    q_a_layernorm = register_module("q_a_layernorm", RMSNorm(c.q_lora_rank, c.rms_norm_eps));
    q_b_proj = register_module("q_b_proj", linear(c.q_lora_rank, q_width));
  } else {
    q_proj = register_module("q_proj", linear(c.hidden_size, q_width));
  }
  kv_a_proj_with_mqa = register_module("kv_a_proj_with_mqa", linear(c.hidden_size, kv_rank_ + rope_));
  kv_a_layernorm = register_module("kv_a_layernorm", RMSNorm(kv_rank_, c.rms_norm_eps));
  kv_b_proj = register_module("kv_b_proj", linear(kv_rank_, heads_ * (nope_ + v_)));
  o_proj = register_module("o_proj", linear(heads_ * v_, c.hidden_size));
}

torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& allowed) {
  auto s = scores.to(compute_dtype(scores))
               .masked_fill(allowed.unsqueeze(1).logical_not(), -std::numeric_limits<double>::infinity());
  return torch::softmax(s, /*dim=*/-1).to(scores.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> MLAImpl::project_q(const torch::Tensor& x, const torch::Tensor& cos,
                                                           const torch::Tensor& sin, ActivationTap* tap) {
  // linear_forward: FP8 weights or FP8 training when the layer has them (model/fp8_linear.h).
  torch::Tensor q;  // [B, S, H·(nope+R)]
  if (q_proj) {
    q = linear_forward(q_proj, x);
    tap_record(tap, tap_scope, "q_proj", q);
  } else {
    auto q_a = linear_forward(q_a_proj, x);  // [B, S, q_lora_rank]
    tap_record(tap, tap_scope, "q_a_proj", q_a);
    auto q_a_normed = q_a_layernorm(q_a);
    tap_record(tap, tap_scope, "q_a_layernorm", q_a_normed);
    q = linear_forward(q_b_proj, q_a_normed);
    tap_record(tap, tap_scope, "q_b_proj", q);
  }
  q = q.unflatten(-1, {heads_, nope_ + rope_});                              // [B, S, H, nope+R]
  auto q_nope = q.narrow(-1, 0, nope_);                                      // [B, S, H, nope]
  auto q_pe = apply_rope_interleaved(q.narrow(-1, nope_, rope_), cos, sin);  // [B, S, H, R]
  return {q_nope, q_pe};
}

std::pair<torch::Tensor, torch::Tensor> MLAImpl::project_kv_latent(const torch::Tensor& x, const torch::Tensor& cos,
                                                                   const torch::Tensor& sin, ActivationTap* tap) {
  auto kv = linear_forward(kv_a_proj_with_mqa, x);  // [B, S, kv_rank + R]: the latent, k_pe not yet rotated
  tap_record(tap, tap_scope, "kv_a_proj_with_mqa", kv);
  auto c_kv = kv_a_layernorm(kv.narrow(-1, 0, kv_rank_));  // [B, S, kv_rank], normalised before caching
  tap_record(tap, tap_scope, "kv_a_layernorm", c_kv);
  auto k_pe = apply_rope_interleaved(kv.narrow(-1, kv_rank_, rope_), cos, sin);  // [B, S, R], one head shared by all
  return {c_kv, k_pe};
}

torch::Tensor MLAImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                               const torch::Tensor& allowed, ActivationTap* tap) {
  auto [q_nope, q_pe] = project_q(x, cos, sin, tap);
  auto [c_kv, k_pe] = project_kv_latent(x, cos, sin, tap);
  auto kvb = linear_forward(kv_b_proj, c_kv);  // [B, T, H·(nope+v)]
  tap_record(tap, tap_scope, "kv_b_proj", kvb);
  kvb = kvb.unflatten(-1, {heads_, nope_ + v_});  // [B, T, H, nope+v]
  auto k_nope = kvb.narrow(-1, 0, nope_);         // [B, T, H, nope]
  auto v = kvb.narrow(-1, nope_, v_);             // [B, T, H, v]
  // q·k = q_nope·k_nope + q_pe·k_pe; the second term shares k_pe across heads.
  auto scores = (torch::einsum("bshd,bthd->bhst", {q_nope, k_nope}) + torch::einsum("bshr,btr->bhst", {q_pe, k_pe})) *
                scale_;                               // [B, H, S, T]
  auto p = masked_softmax(scores, allowed);           // [B, H, S, T]
  auto o = torch::einsum("bhst,bthd->bshd", {p, v});  // [B, S, H, v]
  auto out = linear_forward(o_proj, o.flatten(-2));   // [B, S, hidden]
  tap_record(tap, tap_scope, "o_proj", out);
  return out;
}

torch::Tensor MLAImpl::forward_absorbed(const torch::Tensor& x, const LatentStep& step, size_t cache_layer) {
  auto [q_nope, q_pe] = project_q(x, step.cos, step.sin, step.tap);
  auto [c_kv, k_pe] = project_kv_latent(x, step.cos, step.sin, step.tap);
  auto [kv, pe] = step.cache->write_and_read(cache_layer, c_kv, k_pe);
  // A store may keep another dtype than the compute (a BF16 cache under an FP32 model).
  return attend_absorbed(q_nope, q_pe, kv.to(x.scalar_type()), pe.to(x.scalar_type()), step.allowed, step.tap);
}

torch::Tensor MLAImpl::attend_absorbed(const torch::Tensor& q_nope, const torch::Tensor& q_pe, const torch::Tensor& kv,
                                       const torch::Tensor& pe, const torch::Tensor& allowed, ActivationTap* tap) {
  // FP8 kv_b_proj is dequantized here, as DeepSeek's absorb path does.
  auto w =
      dense_weight(kv_b_proj).to(q_nope.scalar_type()).view({heads_, nope_ + v_, kv_rank_});  // [H, nope+v, kv_rank]
  auto w_uk = w.narrow(1, 0, nope_);                                                          // [H, nope, kv_rank]
  auto w_uv = w.narrow(1, nope_, v_);                                                         // [H, v, kv_rank]
  auto q_latent = torch::einsum("bshd,hdc->bshc", {q_nope, w_uk});  // [B, S, H, kv_rank] = W_UKᵀ q_nope
  // Per head this is MQA with d_k = kv_rank + R over the shared cache rows.
  auto scores = (torch::einsum("bshc,btc->bhst", {q_latent, kv}) + torch::einsum("bshr,btr->bhst", {q_pe, pe})) *
                scale_;                                 // [B, H, S, T]
  auto p = masked_softmax(scores, allowed);             // [B, H, S, T]
  auto u = torch::einsum("bhst,btc->bshc", {p, kv});    // [B, S, H, kv_rank]
  auto o = torch::einsum("bshc,hdc->bshd", {u, w_uv});  // [B, S, H, v] = W_UV u
  auto out = linear_forward(o_proj, o.flatten(-2));     // [B, S, hidden]
  tap_record(tap, tap_scope, "o_proj", out);
  return out;
}

}  // namespace grpo::model
