// FP8 training (spec §6.4, the DeepSeek-V3 technical report §3.3): the three GEMMs of every
// FP8-eligible linear run on FP8 inputs with FP32 accumulation, while the master weights, their
// gradients and the optimizer state stay FP32 (the parameters are untouched; each step
// quantizes the current FP32 weight afresh, online scaling, no delayed amax).
//
//   Fprop  Y  = X · Wᵀ    X in 1x128 tiles (per token, 128 channels), W in 128x128 blocks,
//                         through the block-scaled FP8 GEMM (kernels/fp8_gemm.h).
//   Dgrad  dX = dY · W    dY in 1x128 tiles, W's 128x128 blocks reused transposed (exact),
//                         through the same FP8 GEMM.
//   Wgrad  dW = dYᵀ · X   both operands in 128x1 tiles (per channel, 128 tokens), as the report
//                         does for backward activations. Our GEMM kernel takes per-row scales on
//                         one operand only, so this product multiplies the dequantized FP8
//                         operands in FP32 (torch::mm): the same inputs, FP32 accumulation, and
//                         every e4m3 x e4m3 product exact in FP32; only the summation order
//                         differs from a native 1D-1D FP8 kernel (DeepGEMM's wgrad).
// All tensors are E4M3, gradients included, as in the report. dY is scaled by a power of two
// (exact) before it is quantized, so that the quantizer's amax floor (1e-4, meant for
// activations) never coarsens small gradients.
#pragma once

#include <torch/torch.h>

#include "model/causal_lm.h"

namespace grpo::model {

// Turns FP8 training on for every linear DeepSeek quantizes (model/fp8_linear.h); embeddings,
// norms, router, eh_proj, lm_head and the attention core stay in the model's dtype. Returns
// the number of layers. The weights stay FP32 parameters (must not be FP8 already).
int64_t enable_fp8_training(CausalLM& lm);
void disable_fp8_training(CausalLM& lm);

bool fp8_training_enabled(const torch::nn::LinearImpl& linear);

// The custom autograd op on its own: y = x Wᵀ with the three GEMMs above. x [..., in],
// weight [out, in] FP32 (requires grad). Returns FP32 [..., out] cast to x's dtype.
torch::Tensor fp8_training_linear(const torch::Tensor& x, const torch::Tensor& weight);

}  // namespace grpo::model
