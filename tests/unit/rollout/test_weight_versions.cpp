// Weight versions: the generator swaps weights between steps without restarting, each forward uses
// one version, and completions record the versions that sampled their first and last tokens.
#include <gtest/gtest.h>

#include "rollout_test_util.h"

using namespace grpo;
using namespace grpo::rollout;
using namespace grpo::rollout::rtest;

namespace {

std::vector<std::pair<std::string, torch::Tensor>> state_of(model::CausalLM& lm) {
  std::vector<std::pair<std::string, torch::Tensor>> s;
  for (auto& p : lm->named_parameters()) s.emplace_back(p.key(), p.value().detach().clone());
  for (auto& b : lm->named_buffers()) s.emplace_back(b.key(), b.value().detach().clone());
  return s;
}

void swap_mid_generation(int64_t speculative) {
  auto policy = micro(51);  // starts as version 4, overwritten in place by the swap
  auto old_weights = micro(51);
  auto new_weights = micro(52);
  const std::vector<int64_t> prompt = {1, 3, 5, 7};
  const int64_t n = 12;
  GeneratorOptions o;
  o.speculative = speculative;
  o.weight_version = 4;
  // Swap after the third decode step; the tokens sampled up to then come from version 4.
  Generator* self = nullptr;
  o.between_steps = [&](int64_t step) {
    if (step == 3) self->set_weights(state_of(new_weights), 5);
  };
  Generator hooked(policy, o);
  self = &hooked;
  EXPECT_TRUE(hooked.generate({}).empty());  // an empty call is fine
  int64_t tokens_at_swap = -1;
  std::vector<GenerationResult> results;
  results = hooked.generate({request(prompt, 2, n, 0.0)});
  ASSERT_TRUE(results[0].error.empty()) << results[0].error;
  EXPECT_EQ(hooked.version(), 5u);
  for (const auto& c : results[0].completions) {
    EXPECT_EQ(c.version_start, 4u);
    EXPECT_EQ(c.version_end, 5u);
    EXPECT_EQ(c.weight_version, 5u);
    ASSERT_EQ(c.tokens.size(), static_cast<size_t>(n));
    // Find where the old weights' greedy continuation and the new weights' one part: the prefix
    // up to the swap is the old model's, everything after is the new model's given that prefix.
    auto old_greedy = greedy_reference(old_weights, prompt, n);
    int64_t k = 0;
    while (k < n && c.tokens[static_cast<size_t>(k)] == old_greedy[static_cast<size_t>(k)]) ++k;
    ASSERT_GE(k, 4) << "the first 4 tokens (prefill + 3 steps) come from version 4";
    // Without drafting exactly 4 tokens precede the swap; with drafting 4..7 (1 or 2 per step).
    bool found = false;
    for (int64_t split = 4; split <= std::min<int64_t>(k, speculative ? 7 : 4) && !found; ++split) {
      auto prefix = prompt;
      prefix.insert(prefix.end(), c.tokens.begin(), c.tokens.begin() + split);
      auto rest = greedy_reference(new_weights, prefix, n - split);
      found = std::equal(rest.begin(), rest.end(), c.tokens.begin() + split);
      if (found) tokens_at_swap = split;
    }
    EXPECT_TRUE(found) << "tokens after the swap are the new weights' greedy continuation";
    if (found) {
      // Log-probs after the swap are the new weights' (teacher-forced, FP32, ≤ 1e-5).
      auto lp = teacher_forced_logprobs(new_weights, prompt, c.tokens, 1.0);
      for (auto t = static_cast<size_t>(tokens_at_swap); t < c.tokens.size(); ++t)
        EXPECT_NEAR(c.logprobs[t], lp[t], 1e-5) << "token " << t;
    }
  }
  // The policy now holds the new weights.
  torch::NoGradGuard no_grad;
  auto tokens = torch::tensor(prompt).unsqueeze(0);
  EXPECT_TRUE(torch::equal(policy->forward(tokens).logits, new_weights->forward(tokens).logits));
}

}  // namespace

TEST(WeightVersions, SwapBetweenStepsWithoutRestarting) { swap_mid_generation(0); }

TEST(WeightVersions, SwapBetweenStepsWhileDrafting) { swap_mid_generation(1); }

TEST(WeightVersions, UnknownOrMisshapenParametersAreRefusedAtOnce) {
  auto lm = micro(53);
  Generator gen(lm, {});
  EXPECT_THROW(gen.set_weights({{"model.nope.weight", torch::zeros({2})}}, 1), std::exception);
  EXPECT_THROW(gen.set_weights({{"lm_head.weight", torch::zeros({2, 2})}}, 1), std::exception);
  EXPECT_EQ(gen.version(), 0u);
  auto r = gen.generate({request({1, 2}, 1, 3, 0.0)});
  EXPECT_EQ(r[0].completions[0].version_start, 0u);
}
