#include "model/rope.h"

#include <cmath>

namespace grpo::model {
namespace {

double yarn_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

// Dimension index whose wavelength makes `rotations` turns over the original context.
double correction_dim(double rotations, int64_t dim, double base, double original_max) {
  return dim * std::log(original_max / (rotations * 2 * M_PI)) / (2 * std::log(base));
}

}  // namespace

torch::Tensor rope_inv_freq(const ModelConfig& c) {
  const int64_t dim = c.qk_rope_head_dim;
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  // Same op order as transformers so the FP32 frequencies match bit for bit.
  auto pos_freqs =
      torch::pow(torch::tensor(c.rope_theta, opts), torch::arange(0, dim, 2, opts) / static_cast<float>(dim));
  auto extrapolation = 1.0 / pos_freqs;
  if (!c.rope_scaling) return extrapolation;
  const RopeScaling& s = *c.rope_scaling;
  auto interpolation = 1.0 / (s.factor * pos_freqs);
  const double orig = static_cast<double>(s.original_max_position_embeddings);
  double low = std::floor(correction_dim(s.beta_fast, dim, c.rope_theta, orig));
  double high = std::ceil(correction_dim(s.beta_slow, dim, c.rope_theta, orig));
  low = std::max(low, 0.0);
  high = std::min(high, static_cast<double>(dim - 1));
  if (low == high) high += 0.001;  // avoid a zero-width ramp
  auto ramp = ((torch::arange(dim / 2, opts) - low) / (high - low)).clamp(0, 1);
  auto extrapolation_factor = 1 - ramp;  // 1 keeps f_i (high-frequency dims), 0 uses f_i/factor
  return interpolation * (1 - extrapolation_factor) + extrapolation * extrapolation_factor;
}

double rope_attention_factor(const ModelConfig& c) {
  if (!c.rope_scaling) return 1.0;
  const RopeScaling& s = *c.rope_scaling;
  if (s.mscale != 0.0 && s.mscale_all_dim != 0.0)
    return yarn_mscale(s.factor, s.mscale) / yarn_mscale(s.factor, s.mscale_all_dim);
  return yarn_mscale(s.factor, 1.0);
}

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config)
    : inv_freq_(rope_inv_freq(config)), attention_factor_(rope_attention_factor(config)) {}

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::cos_sin(const torch::Tensor& positions,
                                                                 torch::ScalarType dtype) const {
  // Angles in FP32 like transformers: position (as float) times f'_i.
  auto freqs = positions.to(torch::kFloat32).unsqueeze(-1) * inv_freq_.to(positions.device());  // [B, S, R/2]
  auto cos = freqs.cos() * attention_factor_;
  auto sin = freqs.sin() * attention_factor_;
  return {cos.to(dtype), sin.to(dtype)};
}

torch::Tensor apply_rope_interleaved(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto c = cos, s = sin;
  if (x.dim() == 4) {  // [B, S, H, R]: broadcast over heads
    c = c.unsqueeze(2);
    s = s.unsqueeze(2);
  }
  auto pairs = x.unflatten(/*dim=*/-1, {x.size(-1) / 2, 2});  // [..., R/2, 2]
  auto x1 = pairs.select(-1, 0), x2 = pairs.select(-1, 1);
  auto y1 = x1 * c - x2 * s;
  auto y2 = x2 * c + x1 * s;
  return torch::stack({y1, y2}, /*dim=*/-1).flatten(-2);
}

}  // namespace grpo::model
