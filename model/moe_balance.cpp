#include "model/moe_balance.h"

namespace grpo::model {

torch::Tensor expert_load(const torch::Tensor& indices, const torch::Tensor& token_mask, int64_t n_experts) {
  auto idx = indices;
  if (token_mask.defined()) idx = indices.index({token_mask.reshape({-1}).to(torch::kBool)});  // [N_real, K]
  return torch::bincount(idx.reshape({-1}).to(torch::kCPU), /*weights=*/{}, /*minlength=*/n_experts);
}

void update_routing_bias(torch::Tensor& bias, const torch::Tensor& load, double gamma) {
  torch::NoGradGuard no_grad;
  auto c = load.to(torch::kFloat64).to(bias.device());
  auto step = torch::sign(c.mean() - c) * gamma;  // underloaded experts (c < mean) go up
  bias.add_(step.to(bias.scalar_type()));
}

torch::Tensor update_routing_biases(CausalLM& lm, const std::vector<RouterOutput>& routing,
                                    const torch::Tensor& token_mask, double gamma) {
  std::vector<torch::Tensor> loads;
  auto moe = lm->moe_layers();
  size_t m = 0;
  for (const RouterOutput& r : routing) {
    if (!r.indices.defined()) continue;  // dense layer
    TORCH_CHECK(m < moe.size(), "update_routing_biases: more routed layers than MoE layers");
    auto load = expert_load(r.indices, token_mask, lm->config.n_routed_experts);
    update_routing_bias(moe[m]->gate->e_score_correction_bias, load, gamma);
    loads.push_back(load);
    ++m;
  }
  return loads.empty() ? torch::Tensor() : torch::stack(loads);
}

torch::Tensor sequence_balance_loss(const torch::Tensor& scores, const torch::Tensor& indices,
                                    const torch::Tensor& mask, int64_t batch, double alpha) {
  const int64_t e = scores.size(1), k = indices.size(1), s = scores.size(0) / batch;
  auto valid = mask.defined() ? mask.reshape({batch, s}).to(scores.scalar_type())
                              : torch::ones({batch, s}, scores.options());  // [B, S]
  auto t = valid.sum(1).clamp_min(1);                                       // [B]
  torch::Tensor f;
  {
    torch::NoGradGuard no_grad;
    auto onehot = torch::zeros({batch * s, e}, scores.options()).scatter_(1, indices, 1.0);  // [B·S, E]
    auto counts = (onehot.view({batch, s, e}) * valid.unsqueeze(-1)).sum(1);                 // [B, E]
    f = counts * (static_cast<double>(e) / k) / t.unsqueeze(-1);                             // [B, E]
  }
  auto normed = scores / scores.sum(-1, /*keepdim=*/true);                               // s'_{i,t}
  auto p = (normed.view({batch, s, e}) * valid.unsqueeze(-1)).sum(1) / t.unsqueeze(-1);  // [B, E]
  return alpha * (f * p).sum(-1).mean();
}

ExpertLoadStats expert_load_stats(const torch::Tensor& load) {
  auto c = load.to(torch::kFloat64);
  const double mean = c.mean().item<double>();
  if (mean == 0) return {};
  return {c.max().item<double>() / mean, c.std(/*unbiased=*/false).item<double>() / mean};
}

}  // namespace grpo::model
