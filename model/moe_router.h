// The DeepSeek-V3 MoE gate (spec §4.1, HF DeepseekV3TopkRouter): sigmoid affinities, the
// correction bias for selection only, group-limited top-k by top-2 group score with −inf
// masking, normalisation of the unbiased weights, routed_scaling_factor.
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace grpo::model {

struct RouterOutput {
  torch::Tensor scores;   // [N, E] sigmoid affinities s (FP32; carries gradient to gate.weight)
  torch::Tensor indices;  // [N, K] int64 selected experts
  torch::Tensor weights;  // [N, K] FP32 routing weights (normalised, × routed_scaling_factor)
};

class TopkRouterImpl : public torch::nn::Module {
 public:
  explicit TopkRouterImpl(const ModelConfig& config);
  // x: [N, hidden]
  RouterOutput forward(const torch::Tensor& x);

  torch::Tensor weight;                   // [E, hidden]
  torch::Tensor e_score_correction_bias;  // [E] FP32 buffer: no gradient, updated by §4.2 balancing

 private:
  int64_t n_experts_, top_k_, n_group_, topk_group_;
  bool norm_topk_prob_;
  double routed_scaling_factor_;
};
TORCH_MODULE(TopkRouter);

}  // namespace grpo::model
