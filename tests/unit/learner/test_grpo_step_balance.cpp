// The GRPO step's MoE routing-bias update and MTP loss (learner/grpo_step.h).
#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "learner/grpo_step.h"
#include "learner/token_logprobs.h"
#include "model/moe_balance.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

model::CausalLM tiny(uint64_t seed) {
  return model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
}

const std::vector<int64_t> kPrompt = {1, 5, 9};
const std::vector<std::vector<int64_t>> kOuts = {{10, 11, 12, 13}, {20, 21}, {30, 31, 32}};

std::vector<float> logprobs_of(model::CausalLM& lm, const std::vector<int64_t>& completion) {
  torch::NoGradGuard no_grad;
  TrainSequence s{kPrompt, static_cast<int64_t>(kPrompt.size())};
  s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
  auto lp = target_logprobs(lm, collate({s}, {0}, 0));
  std::vector<float> out;
  for (size_t k = 0; k < completion.size(); ++k)
    out.push_back(lp[0][static_cast<int64_t>(kPrompt.size() - 1 + k)].item<float>());
  return out;
}

ScoredPromptGroup group_of(model::CausalLM& lm) {
  ScoredPromptGroup g;
  g.prompt = kPrompt;
  const double rewards[] = {1.0, 0.0, 0.5};
  for (size_t i = 0; i < kOuts.size(); ++i)
    g.completions.push_back({kOuts[i], logprobs_of(lm, kOuts[i]), rewards[i], false});
  return g;
}

torch::Tensor sequence(const std::vector<int64_t>& completion) {
  std::vector<int64_t> t = kPrompt;
  t.insert(t.end(), completion.begin(), completion.end());
  return torch::tensor(t).unsqueeze(0);
}

GrpoStepOptions options() {
  GrpoStepOptions o;
  o.algorithm = algorithm_preset("grpo");
  o.algorithm.loss.kl_coef = 0.0;
  o.grad_clip = 0.0;
  o.bias_update_speed = 0.0;
  return o;
}

}  // namespace

TEST(GrpoStepBalance, RoutingBiasesMoveByGammaTowardsTheLoadsTheStepSaw) {
  auto lm = tiny(31);
  auto group = group_of(lm);
  // Expected: the loads of each MoE layer over the batch's real tokens (routing is per token, so
  // each sequence alone gives the same choices as the padded batch), then b += γ·sign(mean − c).
  auto moe = lm->moe_layers();
  std::vector<torch::Tensor> loads(moe.size());
  {
    torch::NoGradGuard no_grad;
    for (const auto& out : kOuts) {
      auto r = lm->forward(sequence(out), {}, {}, /*want_routing=*/true);
      size_t m = 0;
      for (const auto& layer : r.routing) {
        if (!layer.indices.defined()) continue;
        auto load = model::expert_load(layer.indices, {}, lm->config.n_routed_experts);
        loads[m] = loads[m].defined() ? loads[m] + load : load;
        ++m;
      }
    }
  }
  std::vector<torch::Tensor> before;
  for (auto& l : moe) before.push_back(l->gate->e_score_correction_bias.clone());
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));  // weights stay, so routing is as computed
  auto o = options();
  o.bias_update_speed = 0.01;
  auto stats = grpo_step(lm, sgd, {group}, o);
  double max_over_mean = 0;
  for (size_t m = 0; m < moe.size(); ++m) {
    auto c = loads[m].to(torch::kFloat64);
    auto expected = before[m] + (torch::sign(c.mean() - c) * 0.01).to(torch::kFloat32);
    EXPECT_TRUE(torch::allclose(moe[m]->gate->e_score_correction_bias, expected, 0, 1e-7)) << "layer " << m;
    EXPECT_FALSE(torch::equal(moe[m]->gate->e_score_correction_bias, before[m]));  // random routing is never balanced
    max_over_mean += model::expert_load_stats(loads[m]).max_over_mean / static_cast<double>(moe.size());
  }
  EXPECT_NEAR(stats.metrics.at("moe/load_max_over_mean"), max_over_mean, 1e-12);
  EXPECT_GT(stats.metrics.at("moe/load_max_over_mean"), 1.0);
}

TEST(GrpoStepBalance, ZeroSpeedLeavesBiasesButStillReportsLoads) {
  auto lm = tiny(32);
  auto group = group_of(lm);
  auto bias = lm->moe_layers()[0]->gate->e_score_correction_bias.clone();
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.0));
  auto stats = grpo_step(lm, sgd, {group}, options());
  EXPECT_TRUE(torch::equal(lm->moe_layers()[0]->gate->e_score_correction_bias, bias));
  EXPECT_TRUE(stats.metrics.count("moe/load_cv"));
}

TEST(GrpoStepBalance, MtpLossIsTheBatchMeanOfModelMtpLossAndTrainsTheDraftHead) {
  auto lm = tiny(33);
  auto group = group_of(lm);
  const double coef = 0.3;
  // Expected: mean over the three sequences of mtp_loss on each alone (model/mtp.h), λ = coef.
  double expected = 0;
  {
    torch::NoGradGuard no_grad;
    for (const auto& out : kOuts) {
      auto tokens = sequence(out);
      auto main = lm->forward(tokens);
      expected += model::mtp_loss(lm->forward_mtp(main, tokens), tokens, {}, coef).item<double>() / 3.0;
    }
  }
  auto eh_before = lm->mtp[0]->as<model::MTPLayerImpl>()->eh_proj->weight.clone();
  torch::optim::SGD sgd(lm->parameters(), torch::optim::SGDOptions(0.1));
  auto o = options();
  o.mtp_loss_coef = coef;
  auto stats = grpo_step(lm, sgd, {group}, o);
  // FP32, padded batch vs one sequence at a time: equal to ~1e-6 relative.
  EXPECT_NEAR(stats.metrics.at("mtp/loss"), expected, 1e-5 * std::abs(expected) + 1e-7);
  EXPECT_GE(stats.metrics.at("mtp/accuracy"), 0.0);
  EXPECT_LE(stats.metrics.at("mtp/accuracy"), 1.0);
  EXPECT_FALSE(torch::equal(lm->mtp[0]->as<model::MTPLayerImpl>()->eh_proj->weight, eh_before));

  // Without the MTP loss the draft head gets no gradient and stays put.
  auto lm2 = tiny(33);
  auto eh2 = lm2->mtp[0]->as<model::MTPLayerImpl>()->eh_proj->weight.clone();
  torch::optim::SGD sgd2(lm2->parameters(), torch::optim::SGDOptions(0.1));
  auto stats2 = grpo_step(lm2, sgd2, {group_of(lm2)}, options());
  EXPECT_TRUE(torch::equal(lm2->mtp[0]->as<model::MTPLayerImpl>()->eh_proj->weight, eh2));
  EXPECT_FALSE(stats2.metrics.count("mtp/loss"));
}
