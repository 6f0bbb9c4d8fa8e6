// Rotary position embedding on the decoupled RoPE slice (spec §3.2): YaRN frequencies and the
// interleaved-pair rotation the released weights were trained with.
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace grpo::model {

// Inverse frequencies f'_i, i = 0..qk_rope_head_dim/2-1, FP32 as transformers computes them
// (`_compute_yarn_parameters`; plain θ^(-2i/R) without rope_scaling).
torch::Tensor rope_inv_freq(const ModelConfig& config);  // [R/2]
// Factor on cos/sin: mscale(factor, mscale) / mscale(factor, mscale_all_dim); 1.0 for V3.
double rope_attention_factor(const ModelConfig& config);

// Precomputed frequencies; cos/sin for any positions.
class RotaryEmbedding {
 public:
  explicit RotaryEmbedding(const ModelConfig& config);
  // positions: [B, S] int64 absolute indices -> {cos, sin}: [B, S, R/2] in `dtype`.
  std::pair<torch::Tensor, torch::Tensor> cos_sin(const torch::Tensor& positions, torch::ScalarType dtype) const;

 private:
  torch::Tensor inv_freq_;  // [R/2] FP32
  double attention_factor_;
};

// Rotates pairs (x[2i], x[2i+1]) by angle φ_i in place of the pair (DeepSeek's layout):
//   y[2i] = x[2i]cosφ_i − x[2i+1]sinφ_i,  y[2i+1] = x[2i]sinφ_i + x[2i+1]cosφ_i.
// transformers returns the same values de-interleaved ([evens ; odds]); q·k is identical.
// x: [B, S, H, R] with cos/sin [B, S, R/2] (broadcast over H), or x: [B, S, R].
torch::Tensor apply_rope_interleaved(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace grpo::model
