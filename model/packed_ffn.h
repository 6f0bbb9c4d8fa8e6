// The FFN weights in the layout decoding runs them in: gate and up projections fused into one
// [hidden, 2·inter] matrix, every matrix stored transposed and contiguous, so each expert costs
// two GEMMs on pre-packed operands instead of three x·Wᵀ calls. Measured on tiny.json
// (bench/bench_generate): the FFNs are most of a decode step at G = 8 (docs/rollout.md).
// Only the GEMM operands differ: routing, expert dispatch, combine and residual are the layers'
// own code (MoEImpl::forward, DecoderLayerImpl), which take a PackedFFN by pointer. Same function
// as MLPImpl::forward up to FP32 summation order. Built only for layers without FP8 weights or FP8
// training (those keep linear_forward).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "model/mlp.h"
#include "model/moe.h"

namespace grpo::model {

struct PackedMLP {
  torch::Tensor gate_up_t;  // [hidden, 2·inter]: columns [0, inter) gate, [inter, 2·inter) up
  torch::Tensor down_t;     // [inter, hidden]
  int64_t inter = 0;
  torch::Tensor forward(const torch::Tensor& x) const;  // x [..., hidden]
};

struct PackedFFN {
  std::optional<PackedMLP> dense;   // a dense layer's MLP
  std::vector<PackedMLP> experts;   // a MoE layer's routed experts
  std::optional<PackedMLP> shared;  // and its shared experts
};

// A layer's FFN (exactly one of dense / moe non-null) in the decode layout; nullopt when one of
// its linears holds FP8 weights or trains in FP8.
std::optional<PackedFFN> pack_ffn(MLPImpl* dense, MoEImpl* moe);

}  // namespace grpo::model
