#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "learner/grpo_step.h"
#include "learner/token_logprobs.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

model::CausalLM tiny(uint64_t seed) {
  return model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
}

// log π(completion | prompt) per token under `lm` (what a rollout at T = 1 would have recorded).
std::vector<float> logprobs_of(model::CausalLM& lm, const std::vector<int64_t>& prompt,
                               const std::vector<int64_t>& completion) {
  torch::NoGradGuard no_grad;
  TrainSequence s{prompt, static_cast<int64_t>(prompt.size())};
  s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
  MicroBatch mb = collate({s}, {0}, 0);
  auto lp = target_logprobs(lm, mb);
  std::vector<float> out;
  for (size_t k = 0; k < completion.size(); ++k)
    out.push_back(lp[0][static_cast<int64_t>(prompt.size() - 1 + k)].item<float>());
  return out;
}

double mean(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += x;
  return s / static_cast<double>(v.size());
}

ScoredPromptGroup make_group(model::CausalLM& lm, std::vector<std::optional<double>> rewards) {
  ScoredPromptGroup g;
  g.prompt = {1, 5, 9};
  const std::vector<std::vector<int64_t>> outs = {{10, 11, 12}, {20}, {30, 31}};
  for (size_t i = 0; i < rewards.size(); ++i)
    g.completions.push_back({outs[i], logprobs_of(lm, g.prompt, outs[i]), rewards[i], false});
  return g;
}

GrpoStepOptions options(const std::string& preset) {
  GrpoStepOptions o;
  o.algorithm = algorithm_preset(preset);
  o.algorithm.loss.kl_coef = 0.0;
  o.grad_clip = 0.0;
  return o;
}

}  // namespace

TEST(GrpoStep, OnPolicyTokenMeanLossIsMinusAdvantageWeightedTokenShare) {
  // Rewards {1, 0, nil}: advantages ±0.7071068 (unbiased std over the two scored), the nil sample
  // is masked. On-policy ρ = 1, so token-mean loss = −(3·0.7071068 − 1·0.7071068)/4 = −0.3535534.
  auto lm = tiny(21);
  auto group = make_group(lm, {1.0, 0.0, std::nullopt});
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto o = options("dapo");
  o.algorithm.drop_equal_groups = false;
  auto stats = grpo_step(lm, sgd, {group}, o);
  // FP32 forward of the same tokens in a padded batch vs alone: ratio 1 to ~1e-6.
  EXPECT_NEAR(stats.metrics.at("loss"), -0.3535534, 1e-5);
  EXPECT_NEAR(stats.metrics.at("reward/mean"), 0.5, 1e-12);
  EXPECT_NEAR(stats.metrics.at("clip_fraction"), 0.0, 1e-12);
}

TEST(GrpoStep, UpdateRaisesTheBetterCompletionAndLowersTheWorse) {
  auto lm = tiny(22);
  auto group = make_group(lm, {1.0, 0.0});
  const auto before_good = mean(logprobs_of(lm, group.prompt, group.completions[0].tokens));
  const auto before_bad = mean(logprobs_of(lm, group.prompt, group.completions[1].tokens));
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.5));
  grpo_step(lm, sgd, {group}, options("grpo"));
  EXPECT_GT(mean(logprobs_of(lm, group.prompt, group.completions[0].tokens)), before_good);
  EXPECT_LT(mean(logprobs_of(lm, group.prompt, group.completions[1].tokens)), before_bad);
}

TEST(GrpoStep, MicroBatchSplitDoesNotChangeTheUpdate) {
  // SGD makes the update linear in the gradient: one micro-batch or one per sequence must agree.
  auto a = tiny(23), b = tiny(23);
  auto group = make_group(a, {1.0, 0.0, 0.5});
  for (const char* preset : {"grpo", "dapo"}) {
    torch::optim::SGD sa(a->parameters(), torch::optim::SGDOptions(0.1)),
        sb(b->parameters(), torch::optim::SGDOptions(0.1));
    auto big = options(preset), small = options(preset);
    big.micro_batch_tokens = 1 << 20;
    small.micro_batch_tokens = 1;  // every sequence alone
    grpo_step(a, sa, {group}, big);
    grpo_step(b, sb, {group}, small);
    auto pa = a->parameters(), pb = b->parameters();
    for (size_t i = 0; i < pa.size(); ++i)
      EXPECT_TRUE(torch::allclose(pa[i], pb[i], /*rtol=*/1e-5, /*atol=*/1e-6)) << preset << " parameter " << i;
  }
}

TEST(GrpoStep, GroupsWithoutSignalAreDroppedAndChangeNothing) {
  auto lm = tiny(24);
  auto group = make_group(lm, {1.0, 1.0, 1.0});
  auto before = lm->lm_head->weight.clone();
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.5));
  auto stats = grpo_step(lm, sgd, {group}, options("dapo"));
  EXPECT_EQ(stats.groups_dropped, 1);
  EXPECT_EQ(stats.groups_used, 0);
  EXPECT_TRUE(torch::equal(before, lm->lm_head->weight));
}

TEST(GrpoStep, KlToAnIdenticalReferenceIsZeroAndNeedsTheReference) {
  auto lm = tiny(25), ref = tiny(25);
  auto group = make_group(lm, {1.0, 0.0});
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto o = options("grpo");
  o.algorithm.loss.kl_coef = 0.1;
  auto stats = grpo_step(lm, sgd, {group}, o, &ref);
  EXPECT_NEAR(stats.metrics.at("kl"), 0.0, 1e-6);
  EXPECT_THROW(grpo_step(lm, sgd, {group}, o, nullptr), std::exception);
}

TEST(GrpoStep, GroupDroppedSeesTheOverlongPenaltyAsTheStepDoes) {
  // Equal script rewards, but one completion runs into the soft overlong window: after shaping
  // the rewards differ, so the group carries signal (what the refill loop counts must be what
  // grpo_step drops). Budget 10, window 4: a length-8 completion gets (6 - 8) / 4 = -0.5.
  ScoredPromptGroup g;
  g.prompt = {1, 2};
  g.completions.push_back({std::vector<int64_t>(3, 5), {}, 1.0, false});
  g.completions.push_back({std::vector<int64_t>(8, 5), {}, 1.0, false});
  AlgorithmConfig algo;
  algo.drop_equal_groups = true;
  EXPECT_TRUE(group_dropped(g, algo, 10));
  algo.overlong_cache = 4;
  const auto r = shaped_rewards(g, algo, 10);
  EXPECT_DOUBLE_EQ(*r[0], 1.0);
  EXPECT_DOUBLE_EQ(*r[1], 0.5);
  EXPECT_FALSE(group_dropped(g, algo, 10));
  algo.drop_equal_groups = false;  // without dynamic sampling nothing is dropped
  algo.overlong_cache = 0;
  EXPECT_FALSE(group_dropped(g, algo, 10));
}
