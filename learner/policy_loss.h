// The GRPO-family policy loss, in one place and parameterised (spec deepseek-v3.md §9):
// GRPO, Dr. GRPO, DAPO and GSPO are settings of PolicyLossConfig, not copies of the code.
//
//   ℓ(ρ, A) = min(ρ·A, clip(ρ, 1 − ε_low, 1 + ε_high)·A)        per token (or per sequence: GSPO)
//   loss    = Σ_{i,t} w_{i,t} · ( −tis_{i,t}·ℓ_{i,t} + β·D_{i,t} )
//
// with w from the aggregation mode, D the KL estimator against the reference policy, and tis the
// optional truncated importance weight between the learner's π_old and the rollout's behaviour
// policy (runtime.md §6).
#pragma once

#include <torch/torch.h>

#include <string>

namespace grpo::learner {

enum class RatioLevel {
  kToken,     // ρ_{i,t} = π_θ/π_old per token (GRPO, DAPO, Dr. GRPO)
  kSequence,  // GSPO: s_i = exp(mean_t log ρ_{i,t}), one ratio per sequence
};

enum class LossAggregation {
  kSeqMeanTokenMean,    // GRPO: (1/G) Σ_i (1/|o_i|) Σ_t
  kTokenMean,           // DAPO: (1/Σ|o_i|) Σ_i Σ_t
  kSeqMeanTokenSumNorm  // Dr. GRPO: (1/G) Σ_i (1/C) Σ_t, C a constant (the generation budget)
};

enum class KlEstimator {
  kK1,  // log π_θ − log π_ref
  kK2,  // ½ (log π_θ − log π_ref)²
  kK3,  // e^Δ − Δ − 1 with Δ = log π_ref − log π_θ (DeepSeekMath; unbiased, ≥ 0)
};

struct PolicyLossConfig {
  RatioLevel ratio = RatioLevel::kToken;
  double clip_low = 0.2;   // ε_low
  double clip_high = 0.2;  // ε_high (DAPO clip-higher: 0.28)
  LossAggregation aggregation = LossAggregation::kSeqMeanTokenMean;
  double aggregation_constant = 0.0;  // C for kSeqMeanTokenSumNorm; must be > 0 there
  double kl_coef = 0.0;               // β; 0 skips the reference policy entirely
  KlEstimator kl_estimator = KlEstimator::kK3;
  double tis_cap = 0.0;  // > 0: weight the PG term by min(π_old/π_behaviour, tis_cap) per token
};

// One micro-batch of completions, right-padded to T tokens. Tensors are FP32.
struct PolicyLossBatch {
  torch::Tensor logp;            // [B, T] log π_θ(o_t), carries the gradient
  torch::Tensor old_logp;        // [B, T] log π_old(o_t)
  torch::Tensor advantages;      // [B]
  torch::Tensor mask;            // [B, T] 1 where the token counts (completion, not padding)
  torch::Tensor ref_logp;        // [B, T] log π_ref; needed only when kl_coef > 0
  torch::Tensor behaviour_logp;  // [B, T] the rollout's log-probs; needed only when tis_cap > 0
};

// With gradient accumulation the normalisers must be the global batch's, not the micro-batch's,
// or the loss of a batch would depend on how it was split. Zero means "use this micro-batch's".
struct LossNormalizer {
  double sequences = 0.0;  // number of sequences with at least one counted token
  double tokens = 0.0;     // number of counted tokens
};

struct PolicyLossResult {
  torch::Tensor loss;  // scalar, to be minimised
  // Diagnostics over counted tokens (no gradient):
  double pg_loss = 0.0;        // the policy-gradient part of `loss`
  double kl_loss = 0.0;        // β·D part of `loss`
  double kl_mean = 0.0;        // mean D per token (before β)
  double clip_fraction = 0.0;  // fraction of tokens (GSPO: sequences) whose clipped branch was taken
  double ratio_mean = 0.0;     // mean ρ per token
  double tis_mean = 0.0;       // mean truncated IS weight (1 when off)
};

PolicyLossResult policy_loss(const PolicyLossBatch& batch, const PolicyLossConfig& config,
                             const LossNormalizer& normalizer = {});

// Per-token KL estimate D(π_θ ‖ π_ref) from log-probs of the sampled tokens.
torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator estimator);

LossAggregation parse_loss_aggregation(const std::string& name);  // "seq-mean-token-mean" | ...
std::string to_string(LossAggregation aggregation);
KlEstimator parse_kl_estimator(const std::string& name);  // "k1" | "k2" | "k3"
std::string to_string(KlEstimator estimator);
RatioLevel parse_ratio_level(const std::string& name);  // "token" | "sequence"
std::string to_string(RatioLevel level);

}  // namespace grpo::learner
