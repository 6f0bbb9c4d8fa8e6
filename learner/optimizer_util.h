// Small optimizer helpers shared by the SFT and GRPO training paths.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace grpo::learner {

// Global L2 norm of the parameters' gradients, accumulated in FP64 (NaN/inf when any is).
double global_grad_norm(const std::vector<torch::Tensor>& params);

// Sets the learning rate of every parameter group of an AdamW optimizer (schedules change it per step).
void set_adamw_lr(torch::optim::AdamW& optimizer, double lr);

}  // namespace grpo::learner
