// MoE load balancing for training (spec §4.2, §4.3) and expert-load statistics for metrics.
// The learner calls these after/while computing a step; the router's decisions come from
// LMOutput::routing (CausalLM::forward with want_routing).
#pragma once

#include <torch/torch.h>

#include "model/causal_lm.h"

namespace grpo::model {

// Tokens routed to each expert. indices: [N, K]; token_mask: [N] (1 = real token) or undefined.
// Returns [E] int64.
torch::Tensor expert_load(const torch::Tensor& indices, const torch::Tensor& token_mask, int64_t n_experts);

// Auxiliary-loss-free balancing: b_i += γ · sign(mean(c) − c_i) (spec §4.2), in place, no gradient.
void update_routing_bias(torch::Tensor& bias, const torch::Tensor& load, double gamma);

// Applies update_routing_bias to every MoE layer of `lm` from a forward's routing (one entry per
// main layer). token_mask: [B·S] or undefined. Returns the per-layer loads [n_moe_layers, E].
torch::Tensor update_routing_biases(CausalLM& lm, const std::vector<RouterOutput>& routing,
                                    const torch::Tensor& token_mask, double gamma);

// Sequence-wise balance loss (spec §4.3): α Σ_i f_i P_i per sequence, averaged over sequences,
// with f_i = E/(K·T) · #tokens routed to i (no gradient), P_i = mean_t s_it / Σ_j s_jt.
// scores: [B·S, E] sigmoid affinities; indices: [B·S, K]; mask: [B, S] or undefined.
torch::Tensor sequence_balance_loss(const torch::Tensor& scores, const torch::Tensor& indices,
                                    const torch::Tensor& mask, int64_t batch, double alpha);

// Load statistics of one layer for metrics: max load / mean load (1 = perfectly balanced) and the
// coefficient of variation of the loads.
struct ExpertLoadStats {
  double max_over_mean = 0;
  double cv = 0;
};
ExpertLoadStats expert_load_stats(const torch::Tensor& load);

}  // namespace grpo::model
