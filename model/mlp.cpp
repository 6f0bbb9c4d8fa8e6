#include "model/mlp.h"

#include "model/fp8_linear.h"

namespace grpo::model {

MLPImpl::MLPImpl(int64_t hidden_size, int64_t intermediate_size) {
  auto linear = [](int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
  };
  gate_proj = register_module("gate_proj", linear(hidden_size, intermediate_size));
  up_proj = register_module("up_proj", linear(hidden_size, intermediate_size));
  down_proj = register_module("down_proj", linear(intermediate_size, hidden_size));
}

// linear_forward: FP8 weights or FP8 training when the layer has them (model/fp8_linear.h).
torch::Tensor MLPImpl::forward(const torch::Tensor& x) {
  return linear_forward(down_proj, torch::silu(linear_forward(gate_proj, x)) * linear_forward(up_proj, x));
}

}  // namespace grpo::model
