// The policy loss against values worked out by hand.
//
// Fixture: two completions, old_logp = 0 so ρ = exp(logp) directly.
//   seq 0 (A = +1, 2 tokens): ρ = 1.5, 0.9      seq 1 (A = −2, 3 tokens): ρ = 0.7, 1.1, 1.3
// With ε = 0.2:
//   ℓ00 = min(1.5, 1.2) = 1.2 (clipped)   ℓ01 = 0.9
//   ℓ10 = min(−1.4, −1.6) = −1.6 (clipped) ℓ11 = −2.2   ℓ12 = min(−2.6, −2.4) = −2.6
//   Σℓ(seq0) = 2.1, Σℓ(seq1) = −6.4
#include <gtest/gtest.h>

#include <cmath>

#include "learner/policy_loss.h"

using namespace grpo::learner;

namespace {

PolicyLossBatch fixture() {
  PolicyLossBatch b;
  b.logp = torch::log(torch::tensor({{1.5f, 0.9f, 1.0f}, {0.7f, 1.1f, 1.3f}})).requires_grad_(true);
  b.old_logp = torch::zeros({2, 3});
  b.advantages = torch::tensor({1.0f, -2.0f});
  b.mask = torch::tensor({{1.0f, 1.0f, 0.0f}, {1.0f, 1.0f, 1.0f}});
  return b;
}

// Tolerance: FP32 arithmetic on O(1) values, ~1e-7 relative; 1e-5 absolute is generous but far
// below any mistake in the formula (the cases differ by ≥ 0.01).
constexpr double kTol = 1e-5;

}  // namespace

TEST(PolicyLoss, GrpoSeqMeanTokenMean) {
  PolicyLossConfig c;  // token ratio, ε 0.2/0.2, seq-mean-token-mean, β 0
  auto r = policy_loss(fixture(), c);
  // −½ (2.1/2 + (−6.4)/3) = 0.5416667
  EXPECT_NEAR(r.loss.item<double>(), 0.5416667, kTol);
  EXPECT_NEAR(r.clip_fraction, 2.0 / 5.0, 1e-9);
  EXPECT_NEAR(r.ratio_mean, (1.5 + 0.9 + 0.7 + 1.1 + 1.3) / 5.0, kTol);
}

TEST(PolicyLoss, DapoTokenMeanAndGradients) {
  PolicyLossConfig c;
  c.aggregation = LossAggregation::kTokenMean;
  auto b = fixture();
  auto r = policy_loss(b, c);
  EXPECT_NEAR(r.loss.item<double>(), 0.86, kTol);  // −(2.1 − 6.4)/5
  r.loss.backward();
  // ∂loss/∂logp = −w·A·ρ where the unclipped branch is active, 0 where clipped or padded.
  auto g = b.logp.grad();
  EXPECT_NEAR(g[0][0].item<double>(), 0.0, kTol);
  EXPECT_NEAR(g[0][1].item<double>(), -0.18, kTol);  // −(1/5)·1·0.9
  EXPECT_NEAR(g[0][2].item<double>(), 0.0, kTol);    // padding
  EXPECT_NEAR(g[1][0].item<double>(), 0.0, kTol);
  EXPECT_NEAR(g[1][1].item<double>(), 0.44, kTol);  // −(1/5)·(−2)·1.1
  EXPECT_NEAR(g[1][2].item<double>(), 0.52, kTol);  // −(1/5)·(−2)·1.3
}

TEST(PolicyLoss, ClipHigherWidensTheUpperBound) {
  PolicyLossConfig c;
  c.aggregation = LossAggregation::kTokenMean;
  c.clip_high = 0.28;  // ℓ00 = min(1.5, 1.28) = 1.28
  auto r = policy_loss(fixture(), c);
  EXPECT_NEAR(r.loss.item<double>(), -(1.28 + 0.9 - 6.4) / 5.0, kTol);
}

TEST(PolicyLoss, DrGrpoDividesByAConstant) {
  PolicyLossConfig c;
  c.aggregation = LossAggregation::kSeqMeanTokenSumNorm;
  c.aggregation_constant = 4.0;
  auto r = policy_loss(fixture(), c);
  EXPECT_NEAR(r.loss.item<double>(), 0.5375, kTol);  // −½ (2.1/4 − 6.4/4)
}

TEST(PolicyLoss, KlEstimatorsAgainstHandValues) {
  // ref_logp = 0, so Δ = −log ρ. Σ over the 5 tokens: k3 = Σ(1/ρ + log ρ − 1) = 0.1857750,
  // k1 = Σ log ρ = 0.3011041, k2 = Σ ½ log²ρ = 0.1903194. Token-mean, β = 0.1.
  auto b = fixture();
  b.ref_logp = torch::zeros({2, 3});
  PolicyLossConfig c;
  c.aggregation = LossAggregation::kTokenMean;
  const double base = 0.86;
  c.kl_coef = 0.1;
  for (auto [est, sum] : {std::pair{KlEstimator::kK3, 0.1857750}, std::pair{KlEstimator::kK1, 0.3011041},
                          std::pair{KlEstimator::kK2, 0.1903194}}) {
    c.kl_estimator = est;
    auto r = policy_loss(b, c);
    EXPECT_NEAR(r.loss.item<double>(), base + 0.1 * sum / 5.0, kTol) << to_string(est);
    EXPECT_NEAR(r.kl_mean, sum / 5.0, kTol) << to_string(est);
    EXPECT_NEAR(r.kl_loss, 0.1 * sum / 5.0, kTol) << to_string(est);
  }
}

TEST(PolicyLoss, GspoClipsTheSequenceRatio) {
  // s0 = sqrt(1.5·0.9) = 1.1618950, s1 = (0.7·1.1·1.3)^(1/3) = 1.0003332. ε = 3e-4/4e-4:
  // ℓ0 = min(s0, 1.0004) = 1.0004 (clipped); ℓ1 = min(−2·s1, −2·1.0003332) = −2.0006664.
  PolicyLossConfig c;
  c.ratio = RatioLevel::kSequence;
  c.clip_low = 3e-4;
  c.clip_high = 4e-4;
  auto b = fixture();
  auto r = policy_loss(b, c);
  EXPECT_NEAR(r.loss.item<double>(), 0.5001332, kTol);
  EXPECT_NEAR(r.clip_fraction, 0.5, 1e-9);
  r.loss.backward();
  // seq 0 is clipped: no gradient. seq 1: −½·(1/3)·(−2)·s1 = 0.3334444 on each of its tokens.
  auto g = b.logp.grad();
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(g[0][t].item<double>(), 0.0, kTol);
  for (int t = 0; t < 3; ++t) EXPECT_NEAR(g[1][t].item<double>(), 0.3334444, kTol);
}

TEST(PolicyLoss, TruncatedImportanceWeightsCapAtC) {
  // π_old/π_behaviour = 3 at token (1,1), capped to 2; 1 elsewhere.
  auto b = fixture();
  b.behaviour_logp = torch::zeros({2, 3});
  b.behaviour_logp[1][1] = -std::log(3.0);
  PolicyLossConfig c;
  c.aggregation = LossAggregation::kTokenMean;
  c.tis_cap = 2.0;
  auto r = policy_loss(b, c);
  EXPECT_NEAR(r.loss.item<double>(), -(2.1 - 1.6 - 2 * 2.2 - 2.6) / 5.0, kTol);  // 1.3
  EXPECT_NEAR(r.tis_mean, 6.0 / 5.0, kTol);
}

TEST(PolicyLoss, GlobalNormalizerMakesMicroBatchesAddUp) {
  for (auto agg : {LossAggregation::kSeqMeanTokenMean, LossAggregation::kTokenMean}) {
    PolicyLossConfig c;
    c.aggregation = agg;
    auto full = policy_loss(fixture(), c).loss.item<double>();
    auto b = fixture();
    LossNormalizer global{2.0, 5.0};
    double split = 0;
    for (int i = 0; i < 2; ++i) {
      PolicyLossBatch part;
      part.logp = b.logp.slice(0, i, i + 1);
      part.old_logp = b.old_logp.slice(0, i, i + 1);
      part.advantages = b.advantages.slice(0, i, i + 1);
      part.mask = b.mask.slice(0, i, i + 1);
      split += policy_loss(part, c, global).loss.item<double>();
    }
    EXPECT_NEAR(split, full, kTol) << to_string(agg);
  }
}

TEST(PolicyLoss, NegativeAdvantageBelowLowerClipHasNoGradient) {
  // A < 0 and ρ < 1 − ε: the clipped branch (smaller) is taken → zero gradient (PPO's pessimism).
  PolicyLossBatch b;
  b.logp = torch::log(torch::tensor({{0.5f}})).requires_grad_(true);
  b.old_logp = torch::zeros({1, 1});
  b.advantages = torch::tensor({-1.0f});
  b.mask = torch::ones({1, 1});
  auto r = policy_loss(b, PolicyLossConfig{});
  EXPECT_NEAR(r.loss.item<double>(), 0.8, kTol);  // −min(−0.5, −0.8)
  r.loss.backward();
  EXPECT_NEAR(b.logp.grad()[0][0].item<double>(), 0.0, kTol);
}

TEST(PolicyLoss, MisuseIsReported) {
  PolicyLossConfig c;
  c.kl_coef = 0.1;  // no ref_logp given
  EXPECT_THROW(policy_loss(fixture(), c), std::exception);
  PolicyLossConfig d;
  d.aggregation = LossAggregation::kSeqMeanTokenSumNorm;  // constant missing
  EXPECT_THROW(policy_loss(fixture(), d), std::exception);
  EXPECT_THROW(parse_loss_aggregation("mean"), std::exception);
  EXPECT_THROW(parse_kl_estimator("k4"), std::exception);
}
