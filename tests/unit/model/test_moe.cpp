#include <gtest/gtest.h>

#include <set>

#include "model/moe.h"
#include "model/moe_balance.h"
#include "model/moe_router.h"
#include "model_test_util.h"

using namespace grpo::model;

namespace {

ModelConfig router_config() {
  ModelConfig c = mtest::micro_config();  // 8 experts, 4 groups of 2, keep 2 groups, top-2
  return c;
}

std::set<int64_t> as_set(const torch::Tensor& row) {
  std::set<int64_t> s;
  for (int64_t i = 0; i < row.size(0); ++i) s.insert(row[i].item<int64_t>());
  return s;
}

}  // namespace

// Hand-computed case: with a zero gate every affinity is 0.5, so the bias alone decides.
// biased = [1.4, 0.0 | 0.8, 0.7 | 1.3, 0.5 | -0.5, -0.5] -> group top-2 sums [1.4, 1.5, 1.8, -1.0],
// keep groups 2 and 1, then top-2 of experts {2,3,4,5} = {4, 2}. Expert 0 (the highest biased
// score) is excluded by the group limit. Weights: unbiased 0.5 each, normalised, × 2.5 = 1.25.
TEST(Router, GroupLimitedSelectionUsesBiasOnlyForChoice) {
  TopkRouter router(router_config());
  torch::NoGradGuard no_grad;
  router->weight.zero_();
  router->e_score_correction_bias.copy_(torch::tensor({0.9, -0.5, 0.3, 0.2, 0.8, 0.0, -1.0, -1.0}));
  auto out = router(torch::randn({3, 32}));
  for (int t = 0; t < 3; ++t) {
    EXPECT_EQ(as_set(out.indices[t]), (std::set<int64_t>{2, 4}));
    EXPECT_NEAR(out.weights[t][0].item<double>(), 1.25, 1e-6);
    EXPECT_NEAR(out.weights[t][1].item<double>(), 1.25, 1e-6);
  }
  EXPECT_EQ(out.scores.scalar_type(), torch::kFloat32);
}

// Against a per-token, loop-by-loop restatement of spec §4.1 on random inputs.
TEST(Router, MatchesStepByStepReference) {
  ModelConfig c = router_config();
  TopkRouter router(c);
  torch::NoGradGuard no_grad;
  router->weight.normal_(0, 0.3);
  router->e_score_correction_bias.normal_(0, 0.1);
  auto x = torch::randn({50, 32});
  auto out = router(x);
  auto s = torch::sigmoid(torch::matmul(x, router->weight.t()));
  auto b = s + router->e_score_correction_bias;
  for (int t = 0; t < 50; ++t) {
    std::vector<std::pair<double, int>> groups;
    for (int g = 0; g < 4; ++g) groups.push_back({b[t][2 * g].item<double>() + b[t][2 * g + 1].item<double>(), g});
    std::sort(groups.rbegin(), groups.rend());
    std::vector<std::pair<double, int>> cands;
    for (int k = 0; k < 2; ++k)
      for (int e = 2 * groups[k].second; e < 2 * groups[k].second + 2; ++e)
        cands.push_back({b[t][e].item<double>(), e});
    std::sort(cands.rbegin(), cands.rend());
    std::set<int64_t> want{cands[0].second, cands[1].second};
    ASSERT_EQ(as_set(out.indices[t]), want) << "token " << t;
    const double w0 = s[t][cands[0].second].item<double>(), w1 = s[t][cands[1].second].item<double>();
    for (int k = 0; k < 2; ++k) {
      const int64_t e = out.indices[t][k].item<int64_t>();
      const double expected = (e == cands[0].second ? w0 : w1) / (w0 + w1) * 2.5;
      EXPECT_NEAR(out.weights[t][k].item<double>(), expected, 1e-5);  // FP32 sigmoid
    }
  }
}

// The grouped (sorted, one GEMM per expert) combine equals the per-token sum it replaces.
TEST(MoE, GroupedCombineEqualsPerTokenSum) {
  ModelConfig c = router_config();
  MoE moe(c);
  moe->to(torch::kFloat64);
  torch::NoGradGuard no_grad;
  for (auto& p : moe->parameters()) p.normal_(0, 0.3);
  const int64_t n = 20;
  auto x = torch::randn({n, 32}, torch::kFloat64);
  auto idx = torch::randint(0, 3, {n, 2}, torch::kLong) * 2 + torch::tensor({0, 1});  // experts 6,7 never used
  auto w = torch::rand({n, 2}, torch::kFloat64);
  auto got = moe_routed_combine(moe->experts, x, idx, w);
  for (int64_t t = 0; t < n; ++t) {
    auto want = torch::zeros({32}, torch::kFloat64);
    for (int k = 0; k < 2; ++k)
      want += w[t][k] * moe->experts[idx[t][k].item<int64_t>()]->as<MLPImpl>()->forward(x[t].unsqueeze(0)).squeeze(0);
    EXPECT_LT(mtest::max_abs_diff(got[t], want), 1e-12) << "token " << t;  // FP64, same ops reordered
  }
}

TEST(Balance, ExpertLoadAndBiasUpdate) {
  auto idx = torch::tensor({{0, 1}, {0, 2}, {0, 3}, {1, 3}}, torch::kLong);
  auto load = expert_load(idx, torch::tensor({1, 1, 1, 0}), 4);  // last token is padding
  EXPECT_TRUE(torch::equal(load, torch::tensor({3, 1, 1, 1}, torch::kLong)));
  auto bias = torch::zeros({4});
  update_routing_bias(bias, torch::tensor({3, 1, 2, 2}), 0.001);  // mean 2
  EXPECT_TRUE(torch::allclose(bias, torch::tensor({-0.001f, 0.001f, 0.f, 0.f})));
  auto stats = expert_load_stats(torch::tensor({3, 1, 2, 2}));
  EXPECT_DOUBLE_EQ(stats.max_over_mean, 1.5);
  EXPECT_NEAR(stats.cv, std::sqrt(0.5) / 2, 1e-12);
}

// spec §4.3 by hand: one sequence, T = 2, E = 2, K = 1, both tokens routed to expert 0:
// f = E/(K·T)·counts = [2, 0]; s' rows [0.75, 0.25], [0.5, 0.5] -> P = [0.625, 0.375];
// L = α·(2·0.625 + 0·0.375) = 1.25α. dL/ds flows only through P.
TEST(Balance, SequenceBalanceLossHandComputed) {
  auto scores = torch::tensor({{0.6, 0.2}, {0.3, 0.3}}, torch::kFloat64).requires_grad_(true);
  auto idx = torch::tensor({{0}, {0}}, torch::kLong);
  auto loss = sequence_balance_loss(scores, idx, {}, /*batch=*/1, /*alpha=*/0.1);
  EXPECT_NEAR(loss.item<double>(), 0.125, 1e-15);
  loss.backward();
  // d/ds_00 of 0.1·2·(1/2)·s00/(s00+s01) = 0.1·s01/(s00+s01)² = 0.1·0.2/0.64.
  EXPECT_NEAR(scores.grad()[0][0].item<double>(), 0.1 * 0.2 / 0.64, 1e-15);
}

TEST(Balance, UpdatesEveryMoeLayerOfTheModel) {
  ModelConfig c = mtest::micro_config();
  c.num_hidden_layers = 3;
  CausalLM lm = mtest::random_model(c, 5);
  auto tokens = mtest::random_tokens(2, 6, c.vocab_size, 9);
  auto out = lm->forward(tokens, {}, {}, /*want_routing=*/true);
  std::vector<torch::Tensor> before;
  for (auto& m : lm->moe_layers()) before.push_back(m->gate->e_score_correction_bias.clone());
  auto loads = update_routing_biases(lm, out.routing, {}, 0.01);
  ASSERT_EQ(loads.size(0), 2);                            // layers 1 and 2 are MoE
  EXPECT_EQ(loads.sum().item<int64_t>(), 2 * 2 * 6 * 2);  // layers × tokens × top-k
  auto moe = lm->moe_layers();
  for (size_t i = 0; i < moe.size(); ++i) {
    auto step = moe[i]->gate->e_score_correction_bias - before[i];
    auto expected = torch::sign(loads[i].to(torch::kFloat64).mean() - loads[i].to(torch::kFloat64)) * 0.01;
    EXPECT_LT(mtest::max_abs_diff(step, expected), 1e-7);  // the bias stays FP32
    EXPECT_EQ(moe[i]->gate->e_score_correction_bias.scalar_type(), torch::kFloat32);
  }
}
