// SwiGLU feed-forward (dense layers, shared experts and routed experts alike, spec §2):
// down_proj(silu(gate_proj x) ⊙ up_proj x).
#pragma once

#include <torch/torch.h>

namespace grpo::model {

class MLPImpl : public torch::nn::Module {
 public:
  MLPImpl(int64_t hidden_size, int64_t intermediate_size);
  // x: [..., hidden] -> [..., hidden]
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(MLP);

}  // namespace grpo::model
