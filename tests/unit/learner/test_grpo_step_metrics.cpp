// The GRPO step's diagnostic metrics on cases whose values can be worked out by hand: reward
// spread, response lengths, the policy's entropy at the sampled positions, and the importance
// weights between the learner's log-probs and the rollout's behaviour log-probs.
#include <gtest/gtest.h>

#include <cmath>

#include "../model/model_test_util.h"
#include "learner/grpo_step.h"
#include "learner/token_logprobs.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

model::CausalLM tiny(uint64_t seed) {
  return model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
}

const std::vector<int64_t> kPrompt = {1, 5, 9};

// log softmax(logits / T)[completion token] of each completion token, the sequence alone.
std::vector<float> logprobs_of(model::CausalLM& lm, const std::vector<int64_t>& completion, double temperature = 1.0) {
  torch::NoGradGuard no_grad;
  TrainSequence s{kPrompt, static_cast<int64_t>(kPrompt.size())};
  s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
  MicroBatch mb = collate({s}, {0}, 0);
  auto lp = target_logprobs(lm, mb, temperature);
  std::vector<float> out;
  for (size_t k = 0; k < completion.size(); ++k)
    out.push_back(lp[0][static_cast<int64_t>(kPrompt.size() - 1 + k)].item<float>());
  return out;
}

// A completion whose behaviour log-probs are the model's own minus log(w) per token, so the
// importance weight π_learner/π_behaviour of each of its tokens is w.
ScoredCompletion completion(model::CausalLM& lm, std::vector<int64_t> tokens, std::optional<double> reward, double w,
                            bool truncated = false, double temperature = 1.0) {
  auto lp = logprobs_of(lm, tokens, temperature);
  for (auto& x : lp) x -= static_cast<float>(std::log(w));
  return {std::move(tokens), lp, reward, truncated};
}

GrpoStepOptions dapo() {
  GrpoStepOptions o;
  o.algorithm = algorithm_preset("dapo");
  o.algorithm.drop_equal_groups = false;
  o.grad_clip = 0.0;
  return o;
}

}  // namespace

TEST(GrpoStepMetrics, RewardSpreadAndResponseLengths) {
  auto lm = tiny(31);
  // Group A: rewards {1, 0, nil}, lengths {3, 1, 2}, the 2-token one truncated (finish "length").
  // Group B: rewards {0.5, 0.5, 0.5}, lengths {1, 4, 1}.
  ScoredPromptGroup a{kPrompt,
                      {completion(lm, {10, 11, 12}, 1.0, 1), completion(lm, {20}, 0.0, 1),
                       completion(lm, {30, 31}, std::nullopt, 1, /*truncated=*/true)}};
  ScoredPromptGroup b{
      kPrompt, {completion(lm, {40}, 0.5, 1), completion(lm, {41, 42, 43, 44}, 0.5, 1), completion(lm, {45}, 0.5, 1)}};
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto m = grpo_step(lm, sgd, {a, b}, dapo()).metrics;
  // Scored rewards 1, 0, .5, .5, .5: mean 0.5; population variance (.25 + .25 + 0 + 0 + 0)/5 = 0.1.
  EXPECT_DOUBLE_EQ(m.at("reward/mean"), 0.5);
  EXPECT_NEAR(m.at("reward/std"), std::sqrt(0.1), 1e-12);
  // Lengths 3, 1, 2, 1, 4, 1 over all six completions (the unscored one included).
  EXPECT_DOUBLE_EQ(m.at("response_length/mean"), 12.0 / 6.0);
  EXPECT_DOUBLE_EQ(m.at("response_length/max"), 4.0);
  EXPECT_DOUBLE_EQ(m.at("response_length/truncated_fraction"), 1.0 / 6.0);
}

TEST(GrpoStepMetrics, EntropyOfHandMadeLogits) {
  // V = 4, one target position. Row 0: logits all 0 -> uniform, H = log 4 = 1.3862944.
  // Row 1: logits (2 log 3, 0, 0, 0) at T = 2 -> p ∝ (3, 1, 1, 1) = (1/2, 1/6, 1/6, 1/6),
  // H = ½ log 2 + 3 · (1/6) log 6 = 0.3465736 + 0.8958797 = 1.2424533.
  MicroBatch mb;
  mb.input = torch::tensor({0, 0, 0, 0}, torch::kLong).view({2, 2});
  mb.targets = torch::tensor({0, 0}, torch::kLong).view({2, 1});
  model::LMOutput out;
  out.logits = torch::zeros({2, 2, 4});
  out.logits[1][0][0] = 2 * std::log(3.0);
  auto s = target_logprobs_and_entropy(out, mb, /*temperature=*/2.0);
  EXPECT_NEAR(s.entropy[0][0].item<double>(), std::log(4.0), 1e-6);  // FP32 rounding only
  EXPECT_NEAR(s.entropy[1][0].item<double>(), 1.2424533, 1e-6);
  EXPECT_NEAR(s.logp[1][0].item<double>(), std::log(0.5), 1e-6);  // the log-probs are unchanged
  EXPECT_FALSE(s.entropy.requires_grad());
}

TEST(GrpoStepMetrics, EntropyIsTheMeanOverCountedTokensAtTheRolloutTemperature) {
  auto lm = tiny(32);
  const double temperature = 0.7;
  const std::vector<std::vector<int64_t>> outs = {{10, 11, 12}, {20}, {30, 31}};
  ScoredPromptGroup g{
      kPrompt,
      {completion(lm, outs[0], 1.0, 1, false, temperature), completion(lm, outs[1], 0.0, 1, false, temperature),
       completion(lm, outs[2], std::nullopt, 1, false, temperature)}};
  // Reference: each counted sequence alone, H = −Σ p log p of softmax(logits / T) at every
  // position that predicts a completion token, in double. The unscored third one is not counted.
  double h = 0, n = 0;
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < 2; ++i) {
      std::vector<int64_t> t = kPrompt;
      t.insert(t.end(), outs[i].begin(), outs[i].end());
      auto logits = lm->forward(torch::tensor(t).unsqueeze(0)).logits[0].to(torch::kFloat64) / temperature;
      auto p = torch::softmax(logits, -1);
      auto ent = -(p * torch::log(p)).sum(-1);
      for (size_t k = 0; k < outs[i].size(); ++k)
        h += ent[static_cast<int64_t>(kPrompt.size() - 1 + k)].item<double>(), n += 1;
    }
  }
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto o = dapo();
  o.temperature = temperature;
  auto m = grpo_step(lm, sgd, {g}, o).metrics;
  // FP32 forward in a padded batch vs double alone: ~1e-6 relative on an entropy of ~4.
  EXPECT_NEAR(m.at("entropy"), h / n, 1e-4);
  EXPECT_GT(m.at("entropy"), 0.5);  // a random model is far from deterministic: the test can fail
}

TEST(GrpoStepMetrics, ImportanceWeightsBetweenLearnerAndBehaviour) {
  auto lm = tiny(33);
  // Behaviour log-probs shifted so that w = π_learner/π_behaviour is 2 on the three tokens of the
  // first completion and 0.5 on the one of the second; the third (w = 4) has no reward, so its
  // tokens do not count. Counted tokens: 4.
  ScoredPromptGroup g{kPrompt,
                      {completion(lm, {10, 11, 12}, 1.0, 2.0), completion(lm, {20}, 0.0, 0.5),
                       completion(lm, {30, 31}, std::nullopt, 4.0)}};
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto o = dapo();
  auto m = grpo_step(lm, sgd, {g}, o).metrics;
  // is/mean = (3·2 + 1·0.5)/4 = 1.625, max 2, min 0.5. FP32 log-probs of the same tokens in a
  // padded batch vs alone agree to ~1e-6, so the weights to ~1e-5 relative.
  EXPECT_NEAR(m.at("is/mean"), 1.625, 1e-4);
  EXPECT_NEAR(m.at("is/max"), 2.0, 1e-4);
  EXPECT_NEAR(m.at("is/min"), 0.5, 1e-4);
  EXPECT_EQ(m.count("is/truncated_fraction"), 0u) << "only with tis_cap > 0";

  // With TIS (C = 1.5): 3 of the 4 counted tokens have w = 2 > C.
  o.algorithm.loss.tis_cap = 1.5;
  m = grpo_step(lm, sgd, {g}, o).metrics;
  EXPECT_NEAR(m.at("is/truncated_fraction"), 0.75, 1e-12);
  // One update: π_old is the learner's own log-probs, so ρ = 1 exactly and nothing is clipped,
  // while the PG term is weighted by min(w, C): 1.5 on the first completion, 0.5 on the second.
  // Advantages of rewards {1, 0} (group norm, unbiased std): ±0.7071068. Token-mean loss
  // = −(3 · 0.7071068 · 1.5 + 1 · (−0.7071068) · 0.5)/4 = −(3.1819805 − 0.3535534)/4 = −0.7071068.
  EXPECT_NEAR(m.at("loss"), -0.7071068, 1e-5);
  EXPECT_EQ(m.at("clip_fraction"), 0.0);
}

TEST(GrpoStepMetrics, SeveralUpdatesMeasureWeightsAgainstTheRecomputedOldPolicy) {
  auto lm = tiny(34);
  ScoredPromptGroup g{kPrompt, {completion(lm, {10, 11, 12}, 1.0, 2.0), completion(lm, {20}, 0.0, 0.5)}};
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.5));
  auto o = dapo();
  o.updates_per_batch = 3;
  auto m = grpo_step(lm, sgd, {g}, o).metrics;
  // Measured before the first update (π_old recomputed), not after the later ones moved π_θ.
  EXPECT_NEAR(m.at("is/mean"), 1.625, 1e-4);
  EXPECT_NEAR(m.at("is/max"), 2.0, 1e-4);
  EXPECT_NEAR(m.at("is/min"), 0.5, 1e-4);
}
