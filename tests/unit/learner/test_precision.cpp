// BF16 training (learner/precision.h): matmuls in BF16 under autocast, FP32 master weights,
// gradients and optimizer state, loss/softmax/norms/router in FP32.
//
// Tolerances. BF16 keeps 8 significand bits, so rounding an FP32 operand to BF16 changes it by
// at most 2^-9 ≈ 0.2% (round to nearest), and a product of two rounded operands by ≤ 2^-8 ≈ 0.4%.
// A dot product accumulated in FP32 sums such errors with random signs, so each matmul output is
// off by ~0.4% of the typical term size; through the micro model's ~10 matmuls in series
// (2 layers × q/kv/o/MLP + lm_head) those relative errors add up to a few percent of an
// activation in the worst case, and the loss — a mean over tokens of log-probs of magnitude ~4 —
// averages them further. So a loss must agree within 2% at one point (MoE model) and within 1%
// along 8 AdamW steps of a dense model (measured: 0.17% and at most 0.12%); a real mistake, such
// as a layer run in FP8 with its 4 significand bits (16x coarser) or a wrong cast, shows up as
// much more. The gradient direction must agree within a cosine of 0.99 (measured 0.9997) and its
// norm within 2% (measured 1.2%). They must also differ: identical numbers would mean BF16 was
// not used at all.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "../model/model_test_util.h"
#include "learner/grpo_step.h"
#include "learner/precision.h"
#include "learner/sft.h"
#include "learner/token_logprobs.h"

using namespace grpo;
using namespace grpo::learner;

namespace {

model::CausalLM tiny(uint64_t seed) {
  return model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
}

std::vector<TrainSequence> toy_data() {
  return {{{1, 5, 9, 10, 11, 40}, 3}, {{1, 7, 12, 13, 2}, 2}, {{1, 8, 20, 21, 22, 23, 24}, 2}, {{1, 6, 30, 31, 33}, 3}};
}

// The SFT loss of the toy data at the current weights, and the gradient, flattened.
std::pair<double, torch::Tensor> loss_and_grad(model::CausalLM& lm, Precision precision) {
  lm->zero_grad();
  auto data = toy_data();
  double tokens = 0;
  for (const auto& s : data) tokens += static_cast<double>(s.tokens.size()) - static_cast<double>(s.prompt_len);
  MicroBatch mb = collate(data, {0, 1, 2, 3}, 0);
  torch::Tensor loss;
  {
    PrecisionScope scope(precision);
    loss = sft_loss(lm, mb, tokens);
  }
  loss.backward();
  std::vector<torch::Tensor> grads;
  for (const auto& p : lm->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32) << "master weights must stay FP32";
    if (!p.grad().defined()) continue;
    EXPECT_EQ(p.grad().scalar_type(), torch::kFloat32) << "gradients of FP32 masters are FP32";
    grads.push_back(p.grad().flatten());
  }
  return {loss.item<double>(), torch::cat(grads)};
}

}  // namespace

TEST(Precision, ScopeTurnsBf16MatmulsOnAndRestores) {
  auto x = torch::randn({3, 8}), w = torch::randn({4, 8});
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    PrecisionScope bf16(Precision::kBf16);
    EXPECT_EQ(torch::nn::functional::linear(x, w).scalar_type(), torch::kBFloat16);
    EXPECT_EQ(torch::softmax(x, -1).scalar_type(), torch::kFloat32);  // not a matmul: untouched
    {
      PrecisionScope fp32(Precision::kFp32);  // no-op: the outer scope stays in force
      EXPECT_EQ(torch::matmul(x, w.t()).scalar_type(), torch::kBFloat16);
    }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(torch::nn::functional::linear(x, w).scalar_type(), torch::kFloat32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_THROW(parse_precision("fp16"), std::exception);
}

TEST(Precision, ModelUnderBf16KeepsFp32WeightsAndAFp32Router) {
  auto lm = tiny(41);
  const TrainSequence seq{{1, 5, 9, 10, 11, 12}, 2};
  MicroBatch mb = collate({seq}, {0}, 0);
  PrecisionScope bf16(Precision::kBf16);
  auto out = lm->forward(mb.input, mb.attention, {}, /*want_routing=*/true);
  EXPECT_EQ(out.logits.scalar_type(), torch::kBFloat16);  // lm_head is a matmul
  size_t routers = 0;
  for (const auto& r : out.routing)
    if (r.scores.defined()) {
      EXPECT_EQ(r.scores.scalar_type(), torch::kFloat32) << "router affinities in FP32 (spec §4.1)";
      ++routers;
    }
  EXPECT_GT(routers, 0u);
  for (const auto& p : lm->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_EQ(target_logprobs(out, mb).scalar_type(), torch::kFloat32);  // log-softmax in FP32
}

TEST(Precision, Bf16LossAndGradientTrackFp32) {
  auto lm = tiny(42);
  auto [loss32, grad32] = loss_and_grad(lm, Precision::kFp32);
  auto [loss16, grad16] = loss_and_grad(lm, Precision::kBf16);
  ASSERT_TRUE(torch::isfinite(grad16).all().item<bool>());
  const double cosine = (grad16 * grad32).sum().item<double>() / (grad16.norm() * grad32.norm()).item<double>();
  const double norm_ratio = (grad16.norm() / grad32.norm()).item<double>();
  std::printf("loss fp32 %.6f bf16 %.6f (rel %.2e); gradient cosine %.6f, norm ratio %.4f\n", loss32, loss16,
              std::abs(loss16 - loss32) / loss32, cosine, norm_ratio);
  EXPECT_NE(loss16, loss32) << "identical: BF16 was not used";
  EXPECT_LT(std::abs(loss16 - loss32), 0.02 * loss32);
  EXPECT_GT(cosine, 0.99);
  EXPECT_NEAR(norm_ratio, 1.0, 0.02);
}

TEST(Precision, FewSftStepsInBf16TrackFp32) {
  // Dense layers only: an MoE router is a discrete choice, and BF16's rounding of its input can
  // flip a near-tie to another expert, which moves a 15-token loss by a step unrelated to the
  // precision of the arithmetic (the MoE model's gradient is checked at one point above).
  auto config = model::mtest::micro_config();
  config.first_k_dense_replace = config.num_hidden_layers;
  auto a = model::mtest::random_model(config, 43, torch::kFloat32),
       b = model::mtest::random_model(config, 43, torch::kFloat32);
  SftOptions o;
  o.steps = 8;
  o.batch_sequences = 4;
  o.lr.peak_lr = 3e-3;
  std::vector<SftStepStats> s32, s16;
  run_sft(a, toy_data(), o, [&](const SftStepStats& s) { s32.push_back(s); });
  o.precision = Precision::kBf16;
  run_sft(b, toy_data(), o, [&](const SftStepStats& s) { s16.push_back(s); });
  ASSERT_EQ(s16.size(), 8u);
  for (size_t i = 0; i < s16.size(); ++i) {
    std::printf("step %zu loss fp32 %.5f bf16 %.5f\n", i + 1, s32[i].loss, s16[i].loss);
    EXPECT_FALSE(s16[i].skipped);
    EXPECT_TRUE(std::isfinite(s16[i].grad_norm));
    // AdamW's first steps move every weight by ~lr whatever the gradient's size, so BF16's
    // rounding enters the weights too; 8 steps at lr 3e-3 keep the loss within 1%.
    EXPECT_LT(std::abs(s16[i].loss - s32[i].loss), 0.01 * s32[i].loss) << "step " << i + 1;
  }
  EXPECT_NE(s16.back().loss, s32.back().loss) << "identical: BF16 was not used";
  EXPECT_LT(s16.back().loss, 0.7 * s16.front().loss) << "BF16 training learns";
  for (const auto& p : b->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat32);
    EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  }
}

TEST(Precision, GrpoStepInBf16KeepsFp32OptimizerStateAndReportsTheMismatch) {
  auto lm = tiny(44);
  ScoredPromptGroup g;
  g.prompt = {1, 5, 9};
  for (auto [tokens, reward] :
       std::vector<std::pair<std::vector<int64_t>, double>>{{{10, 11, 12}, 1.0}, {{20, 21}, 0.0}}) {
    // Behaviour log-probs from an FP32 "rollout" of the same weights.
    torch::NoGradGuard no_grad;
    TrainSequence s{g.prompt, 3};
    s.tokens.insert(s.tokens.end(), tokens.begin(), tokens.end());
    auto lp = target_logprobs(lm, collate({s}, {0}, 0));
    std::vector<float> b;
    for (size_t k = 0; k < tokens.size(); ++k) b.push_back(lp[0][static_cast<int64_t>(2 + k)].item<float>());
    g.completions.push_back({tokens, b, reward, false});
  }
  torch::optim::AdamW adam(lm->parameters(), torch::optim::AdamWOptions(1e-3));
  GrpoStepOptions o;
  o.algorithm = algorithm_preset("dapo");
  o.algorithm.loss.tis_cap = 2.0;
  o.precision = Precision::kBf16;
  auto m = grpo_step(lm, adam, {g}, o).metrics;
  std::printf("bf16 learner vs fp32 rollout: is/mean %.5f is/min %.5f is/max %.5f\n", m.at("is/mean"), m.at("is/min"),
              m.at("is/max"));
  // The learner's BF16 log-probs differ from the FP32 rollout's by the rounding above: weights
  // within a few percent of 1, but not exactly 1.
  EXPECT_NEAR(m.at("is/mean"), 1.0, 0.05);
  EXPECT_NE(m.at("is/max"), m.at("is/min"));
  EXPECT_EQ(m.at("updates/skipped"), 0.0);
  EXPECT_TRUE(std::isfinite(m.at("grad_norm")));
  size_t states = 0;
  for (const auto& [key, state] : adam.state()) {
    auto& s = static_cast<torch::optim::AdamWParamState&>(*state);
    EXPECT_EQ(s.exp_avg().scalar_type(), torch::kFloat32);
    EXPECT_EQ(s.exp_avg_sq().scalar_type(), torch::kFloat32);
    ++states;
  }
  EXPECT_GT(states, 0u);
  for (const auto& p : lm->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}
