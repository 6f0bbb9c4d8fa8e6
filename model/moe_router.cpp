#include "model/moe_router.h"

#include <c10/core/impl/LocalDispatchKeySet.h>

#include <limits>

#include "model/rms_norm.h"

namespace grpo::model {

TopkRouterImpl::TopkRouterImpl(const ModelConfig& c)
    : n_experts_(c.n_routed_experts),
      top_k_(c.num_experts_per_tok),
      n_group_(c.n_group),
      topk_group_(c.topk_group),
      norm_topk_prob_(c.norm_topk_prob),
      routed_scaling_factor_(c.routed_scaling_factor) {
  weight = register_parameter("weight", torch::zeros({c.n_routed_experts, c.hidden_size}));
  e_score_correction_bias = register_buffer("e_score_correction_bias", torch::zeros({c.n_routed_experts}));
}

RouterOutput TopkRouterImpl::forward(const torch::Tensor& x) {
  const auto dt = compute_dtype(x);
  // Affinities in FP32 whatever the activation dtype (spec §4.1 step 1), BF16 autocast included
  // (learner/precision.h): this linear is excluded from it.
  torch::Tensor logits;
  {
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    logits = torch::nn::functional::linear(x.to(dt), weight.to(dt));  // [N, E]
  }
  auto scores = logits.sigmoid();
  torch::Tensor indices;
  {
    // Selection is discrete: no gradient flows through it.
    torch::NoGradGuard no_grad;
    auto biased = scores.detach() + e_score_correction_bias.to(dt);  // [N, E]
    const int64_t n = biased.size(0);
    auto group_scores =
        std::get<0>(biased.view({n, n_group_, n_experts_ / n_group_}).topk(2, /*dim=*/-1)).sum(-1);  // [N, G]
    auto group_idx = std::get<1>(group_scores.topk(topk_group_, /*dim=*/-1));                        // [N, topk_group]
    auto group_keep = torch::zeros({n, n_group_}, torch::TensorOptions().dtype(torch::kBool).device(x.device()));
    group_keep.scatter_(1, group_idx, true);
    auto expert_keep = group_keep.unsqueeze(-1).expand({n, n_group_, n_experts_ / n_group_}).reshape({n, n_experts_});
    // −inf, not 0 as transformers does: they differ only when a kept biased score is negative (spec §4.1 step 4).
    auto masked = biased.masked_fill(expert_keep.logical_not(), -std::numeric_limits<double>::infinity());
    indices = std::get<1>(masked.topk(top_k_, /*dim=*/-1));  // [N, K]
  }
  auto weights = scores.gather(1, indices);  // unbiased affinities of the chosen experts
  if (norm_topk_prob_) weights = weights / (weights.sum(-1, /*keepdim=*/true) + 1e-20);
  weights = weights * routed_scaling_factor_;
  return {scores, indices, weights};
}

}  // namespace grpo::model
