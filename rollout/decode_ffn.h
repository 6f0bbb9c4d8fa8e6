// The feed-forward blocks of decoding with their weights laid out for small batches: gate and up
// projections fused into one [hidden, 2·inter] matrix, every matrix stored transposed and
// contiguous, so each expert costs two GEMMs on pre-packed operands instead of three
// x·Wᵀ calls. Measured on tiny.json (bench/bench_generate): the FFNs are most of a decode step
// at G = 8 (docs/rollout.md). Same function as MLPImpl / MoEImpl::forward up to FP32 summation
// order. Built only for models without FP8 layers or FP8 training (those keep linear_forward).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "model/causal_lm.h"

namespace grpo::rollout {

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

// One entry per decoder layer of the model (main layers, then the MTP layers), or an empty vector
// when the model has FP8 linears or FP8 training (then the layers' own forward is used).
std::vector<PackedFFN> pack_ffns(model::CausalLM& lm);

// The layer's FFN on x [B, S, hidden] with the packed weights (MoE: the layer's router decides).
torch::Tensor packed_ffn_forward(model::DecoderLayerImpl& layer, const PackedFFN& packed, const torch::Tensor& x);

}  // namespace grpo::rollout
