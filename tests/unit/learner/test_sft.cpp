#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "learner/sft.h"
#include "learner/token_logprobs.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

std::vector<TrainSequence> toy_data() {
  // Prompts 2–3 tokens, completions 2–4 tokens (vocab 64).
  return {{{1, 5, 9, 10, 11}, 3}, {{1, 7, 12, 13}, 2}, {{1, 8, 20, 21, 22, 23}, 2}, {{1, 6, 30, 31}, 3}};
}

}  // namespace

TEST(Sft, LossIsMeanNllOverCompletionTokensOnly) {
  auto lm = model::mtest::random_model(model::mtest::micro_config(), 3, torch::kFloat32);
  lm->eval();
  auto data = toy_data();
  // Reference: each sequence alone (no padding), log_softmax of its logits at its completion tokens.
  double nll = 0, count = 0;
  for (const auto& s : data) {
    auto tokens = torch::tensor(s.tokens).unsqueeze(0);
    auto logp = torch::log_softmax(lm->forward(tokens).logits.to(torch::kFloat64), -1)[0];
    for (size_t t = static_cast<size_t>(s.prompt_len); t < s.tokens.size(); ++t) {
      nll -= logp[static_cast<int64_t>(t) - 1][s.tokens[t]].item<double>();
      count += 1;
    }
  }
  // Ours: one padded micro-batch of all four.
  torch::NoGradGuard no_grad;
  MicroBatch mb = collate(data, {0, 1, 2, 3}, /*pad_id=*/0);
  double ours = sft_loss(lm, mb, count).item<double>();
  // FP32 forward vs the same forward per sequence: padding must not change a real row.
  EXPECT_NEAR(ours, nll / count, 1e-5 * std::max(1.0, nll / count));
}

TEST(Sft, MemorisesASmallSetAndReportsSteps) {
  auto lm = model::mtest::random_model(model::mtest::micro_config(), 4, torch::kFloat32);
  SftOptions o;
  o.steps = 40;
  o.batch_sequences = 4;
  o.lr.peak_lr = 1e-2;
  std::vector<SftStepStats> steps;
  run_sft(lm, toy_data(), o, [&](const SftStepStats& s) { steps.push_back(s); });
  ASSERT_EQ(steps.size(), 40u);
  EXPECT_EQ(steps[0].tokens, 9.0);  // completion tokens of all four: 2 + 2 + 4 + 1
  EXPECT_LT(steps.back().loss, 0.5 * steps.front().loss)
      << "first " << steps.front().loss << " last " << steps.back().loss;
  for (const auto& s : steps) EXPECT_FALSE(s.skipped);
}

TEST(Sft, NonFiniteLossSkipsTheStepAndLeavesWeightsAlone) {
  auto lm = model::mtest::random_model(model::mtest::micro_config(), 5, torch::kFloat32);
  {
    torch::NoGradGuard no_grad;
    lm->lm_head->weight[3][0] = std::numeric_limits<float>::quiet_NaN();
  }
  auto before = lm->model->embed_tokens->weight.clone();
  SftOptions o;
  o.steps = 2;
  o.batch_sequences = 4;
  std::vector<SftStepStats> steps;
  run_sft(lm, toy_data(), o, [&](const SftStepStats& s) { steps.push_back(s); });
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_TRUE(steps[0].skipped);
  EXPECT_TRUE(torch::equal(before, lm->model->embed_tokens->weight));
}
