// RMSNorm: y = w ⊙ x / sqrt(mean(x²) + ε), computed in FP32 (or wider) and cast back (spec §2).
#pragma once

#include <torch/torch.h>

namespace grpo::model {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  // x: [..., dim] -> [..., dim]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [dim]
  double eps;
};
TORCH_MODULE(RMSNorm);

// The dtype reductions and softmaxes run in: FP32, or FP64 when the input is FP64
// (the finite-difference gradient checks run the whole model in double).
inline torch::ScalarType compute_dtype(const torch::Tensor& x) {
  return x.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
}

}  // namespace grpo::model
