#include "learner/policy_loss.h"

#include "common/error.h"

namespace grpo::learner {

torch::Tensor kl_estimate(const torch::Tensor& logp, const torch::Tensor& ref_logp, KlEstimator estimator) {
  const torch::Tensor delta = ref_logp - logp;  // Δ = log π_ref − log π_θ
  switch (estimator) {
    case KlEstimator::kK1:
      return -delta;
    case KlEstimator::kK2:
      return 0.5 * delta * delta;
    case KlEstimator::kK3:
      return torch::exp(delta) - delta - 1.0;
  }
  return {};
}

namespace {

void check_shapes(const PolicyLossBatch& b, const PolicyLossConfig& c) {
  GRPO_CHECK(b.logp.dim() == 2, "logp must be [B, T]");
  GRPO_CHECK(b.old_logp.sizes() == b.logp.sizes(), "old_logp must match logp");
  GRPO_CHECK(b.mask.sizes() == b.logp.sizes(), "mask must match logp");
  GRPO_CHECK(b.advantages.dim() == 1 && b.advantages.size(0) == b.logp.size(0), "advantages must be [B]");
  if (c.kl_coef != 0.0)
    GRPO_CHECK(b.ref_logp.defined() && b.ref_logp.sizes() == b.logp.sizes(), "kl_coef > 0 needs ref_logp [B, T]");
  if (c.tis_cap > 0.0)
    GRPO_CHECK(b.behaviour_logp.defined() && b.behaviour_logp.sizes() == b.logp.sizes(),
               "tis_cap > 0 needs behaviour_logp [B, T]");
  if (c.aggregation == LossAggregation::kSeqMeanTokenSumNorm)
    GRPO_CHECK(c.aggregation_constant > 0.0, "seq-mean-token-sum-norm needs aggregation_constant > 0");
  GRPO_CHECK(c.clip_low >= 0.0 && c.clip_low < 1.0 && c.clip_high >= 0.0,
             "clip range must satisfy 0 <= clip_low < 1, clip_high >= 0");
}

}  // namespace

PolicyLossResult policy_loss(const PolicyLossBatch& batch, const PolicyLossConfig& config,
                             const LossNormalizer& normalizer) {
  check_shapes(batch, config);
  const torch::Tensor mask = batch.mask.to(torch::kFloat32);  // [B, T]
  const torch::Tensor lengths = mask.sum(1);                  // [B]
  const torch::Tensor has_tokens = (lengths > 0).to(torch::kFloat32);
  const torch::Tensor safe_lengths = lengths.clamp_min(1.0);
  const torch::Tensor adv = batch.advantages.to(torch::kFloat32).unsqueeze(1);  // [B, 1]

  // log ρ per token; for GSPO the sequence ratio is spread over the tokens so that its value is
  // s_i on every token while each token's gradient is s_i·∇log π_θ(o_t)/|o_i| after aggregation
  // (the GSPO-token form, identical to GSPO when the advantage is per sequence).
  torch::Tensor log_ratio = batch.logp - batch.old_logp;  // [B, T]
  if (config.ratio == RatioLevel::kSequence) {
    torch::Tensor seq_log_ratio = (log_ratio * mask).sum(1) / safe_lengths;  // [B]
    log_ratio = seq_log_ratio.detach().unsqueeze(1) + batch.logp - batch.logp.detach();
  }
  const torch::Tensor ratio = torch::exp(log_ratio);
  const torch::Tensor clipped = torch::clamp(ratio, 1.0 - config.clip_low, 1.0 + config.clip_high);
  const torch::Tensor unclipped_obj = ratio * adv;
  const torch::Tensor clipped_obj = clipped * adv;
  const torch::Tensor objective = torch::min(unclipped_obj, clipped_obj);  // ℓ per token
  torch::Tensor pg = -objective;
  torch::Tensor tis;
  if (config.tis_cap > 0.0) {
    tis = torch::exp(batch.old_logp - batch.behaviour_logp).clamp_max(config.tis_cap).detach();
    pg = pg * tis;
  }

  // Aggregation weights w_{i,t}.
  const double n_seq = normalizer.sequences > 0 ? normalizer.sequences : has_tokens.sum().item<double>();
  const double n_tok = normalizer.tokens > 0 ? normalizer.tokens : mask.sum().item<double>();
  torch::Tensor weights;  // [B, T]
  switch (config.aggregation) {
    case LossAggregation::kSeqMeanTokenMean:
      weights = mask / safe_lengths.unsqueeze(1) / std::max(n_seq, 1.0);
      break;
    case LossAggregation::kTokenMean:
      weights = mask / std::max(n_tok, 1.0);
      break;
    case LossAggregation::kSeqMeanTokenSumNorm:
      weights = mask / config.aggregation_constant / std::max(n_seq, 1.0);
      break;
  }

  PolicyLossResult result;
  torch::Tensor pg_loss = (pg * weights).sum();
  torch::Tensor loss = pg_loss;
  torch::Tensor kl;
  if (config.kl_coef != 0.0) {
    kl = kl_estimate(batch.logp, batch.ref_logp, config.kl_estimator);
    torch::Tensor kl_loss = config.kl_coef * (kl * weights).sum();
    loss = loss + kl_loss;
    result.kl_loss = kl_loss.item<double>();
  }
  result.loss = loss;

  torch::NoGradGuard no_grad;
  const double counted = std::max(mask.sum().item<double>(), 1.0);
  result.pg_loss = pg_loss.item<double>();
  if (kl.defined()) result.kl_mean = (kl * mask).sum().item<double>() / counted;
  // The clipped branch is taken where it is strictly smaller than the unclipped one.
  const torch::Tensor clip_taken = (clipped_obj < unclipped_obj).to(torch::kFloat32) * mask;
  if (config.ratio == RatioLevel::kSequence) {
    const torch::Tensor seq_clipped = (clip_taken.sum(1) > 0).to(torch::kFloat32) * has_tokens;
    result.clip_fraction = seq_clipped.sum().item<double>() / std::max(has_tokens.sum().item<double>(), 1.0);
  } else {
    result.clip_fraction = clip_taken.sum().item<double>() / counted;
  }
  result.ratio_mean = (ratio * mask).sum().item<double>() / counted;
  result.tis_mean = tis.defined() ? (tis * mask).sum().item<double>() / counted : 1.0;
  return result;
}

LossAggregation parse_loss_aggregation(const std::string& name) {
  if (name == "seq-mean-token-mean") return LossAggregation::kSeqMeanTokenMean;
  if (name == "token-mean") return LossAggregation::kTokenMean;
  if (name == "seq-mean-token-sum-norm") return LossAggregation::kSeqMeanTokenSumNorm;
  throw Error("unknown loss aggregation '" + name +
              "' (allowed: seq-mean-token-mean, token-mean, seq-mean-token-sum-norm)");
}

std::string to_string(LossAggregation aggregation) {
  switch (aggregation) {
    case LossAggregation::kSeqMeanTokenMean:
      return "seq-mean-token-mean";
    case LossAggregation::kTokenMean:
      return "token-mean";
    case LossAggregation::kSeqMeanTokenSumNorm:
      return "seq-mean-token-sum-norm";
  }
  return "?";
}

KlEstimator parse_kl_estimator(const std::string& name) {
  if (name == "k1") return KlEstimator::kK1;
  if (name == "k2") return KlEstimator::kK2;
  if (name == "k3") return KlEstimator::kK3;
  throw Error("unknown KL estimator '" + name + "' (allowed: k1, k2, k3)");
}

std::string to_string(KlEstimator estimator) {
  switch (estimator) {
    case KlEstimator::kK1:
      return "k1";
    case KlEstimator::kK2:
      return "k2";
    case KlEstimator::kK3:
      return "k3";
  }
  return "?";
}

RatioLevel parse_ratio_level(const std::string& name) {
  if (name == "token") return RatioLevel::kToken;
  if (name == "sequence") return RatioLevel::kSequence;
  throw Error("unknown ratio level '" + name + "' (allowed: token, sequence)");
}

std::string to_string(RatioLevel level) { return level == RatioLevel::kToken ? "token" : "sequence"; }

}  // namespace grpo::learner
