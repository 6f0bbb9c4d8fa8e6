#include "model/packed_ffn.h"

#include "model/fp8_linear.h"
#include "model/fp8_training.h"

namespace grpo::model {
namespace {

PackedMLP pack(MLPImpl& m) {
  PackedMLP p;
  p.inter = m.gate_proj->weight.size(0);
  p.gate_up_t = torch::cat({m.gate_proj->weight, m.up_proj->weight}, 0).t().contiguous().detach();
  p.down_t = m.down_proj->weight.t().contiguous().detach();
  return p;
}

bool packable(MLPImpl& m) {
  for (auto* l : {&m.gate_proj, &m.up_proj, &m.down_proj})
    if (is_fp8(**l) || fp8_training_enabled(**l)) return false;
  return true;
}

}  // namespace

torch::Tensor PackedMLP::forward(const torch::Tensor& x) const {
  auto gu = x.matmul(gate_up_t);  // [..., 2·inter]
  return (torch::silu(gu.narrow(-1, 0, inter)) * gu.narrow(-1, inter, inter)).matmul(down_t);
}

std::optional<PackedFFN> pack_ffn(MLPImpl* dense, MoEImpl* moe) {
  torch::NoGradGuard no_grad;
  PackedFFN f;
  if (dense) {
    if (!packable(*dense)) return std::nullopt;
    f.dense = pack(*dense);
    return f;
  }
  for (size_t e = 0; e < moe->experts->size(); ++e) {
    auto& m = *moe->experts[e]->as<MLPImpl>();
    if (!packable(m)) return std::nullopt;
    f.experts.push_back(pack(m));
  }
  if (moe->shared_experts) {
    if (!packable(*moe->shared_experts)) return std::nullopt;
    f.shared = pack(*moe->shared_experts);
  }
  return f;
}

}  // namespace grpo::model
