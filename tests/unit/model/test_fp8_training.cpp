// FP8 training GEMMs (model/fp8_training.h) against FP32 autograd.
//
// Bound: each of the three GEMMs multiplies two e4m3-quantized operands, so as for the forward
// (tests/unit/model/test_fp8_linear.cpp) its result carries ≈ √2 · 0.026 ≈ 0.037 relative RMS
// error; 0.05 per GEMM catches a wrong tile orientation or scale (O(1) errors) and a coarser
// format. Through a whole randomly initialised model the error is much larger, for two reasons:
// the per-GEMM errors compound along the forward and backward chains, and some MoE top-k choices
// flip, which moves whole tokens between experts (so a routed expert's gradient can change by
// half or more: a routed expert that lost or gained a token has a different gradient). Measured
// on the tiny config: 0.23 relative error for the whole gradient vector, up to 0.9 for a single
// routed expert, below 0.8 for every other tensor. The bounds (0.4 overall, 0.8 per tensor
// outside the routed experts, a defined gradient for those) only catch a broken path: a missing
// gradient gives exactly 1, a wrong-signed or mis-scaled one ≥ 1.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>

#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/fp8_training.h"
#include "model_test_util.h"

namespace grpo::model {
namespace {

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).norm() / w.norm()).item<double>();
}

TEST(Fp8Training, ThreeGemmsMatchFp32WithinTheQuantizationBound) {
  torch::manual_seed(2);
  // Ragged on every axis: tokens 2·70 = 140, in 300, out 200 (none a multiple of 128).
  auto x = torch::randn({2, 70, 300}, torch::requires_grad());
  auto w = (torch::randn({200, 300}) * 0.05).requires_grad_();
  auto dy = torch::randn({2, 70, 200});

  auto y8 = fp8_training_linear(x, w);
  auto [dx8, dw8] = [&] {
    auto g = torch::autograd::grad({y8}, {x, w}, {dy});
    return std::make_pair(g[0], g[1]);
  }();
  auto y32 = torch::matmul(x, w.t());
  auto g32 = torch::autograd::grad({y32}, {x, w}, {dy});

  std::printf("FP8 training GEMMs vs FP32, relative error: fprop %.4f, dgrad %.4f, wgrad %.4f\n", rel_err(y8, y32),
              rel_err(dx8, g32[0]), rel_err(dw8, g32[1]));
  EXPECT_LT(rel_err(y8, y32), 0.05);
  EXPECT_LT(rel_err(dx8, g32[0]), 0.05);
  EXPECT_LT(rel_err(dw8, g32[1]), 0.05);
  // Really quantized, not silently FP32.
  EXPECT_GT(rel_err(y8, y32), 1e-3);
  EXPECT_GT(rel_err(dx8, g32[0]), 1e-3);
  EXPECT_GT(rel_err(dw8, g32[1]), 1e-3);
  // Fprop is the inference kernel on the freshly quantized weight.
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(y8, fp8_linear_inference(x, fp8_quantize_weight(w))));
}

TEST(Fp8Training, ModelGradientsFollowFp32AndMasterWeightsStayFp32) {
  ModelConfig c = load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json");
  CausalLM ref(c), fp8(c);
  init_weights(ref, 11);
  init_weights(fp8, 11);
  const int64_t n = enable_fp8_training(fp8);
  EXPECT_EQ(n, static_cast<int64_t>(fp8_linears(fp8).size()));
  EXPECT_EQ(count_fp8_linears(fp8), 0);  // weights are still FP32 parameters

  auto tokens = mtest::random_tokens(2, 40, c.vocab_size, 12);
  auto loss_of = [&](CausalLM& lm) {
    auto logits = lm->forward(tokens).logits;
    return torch::nn::functional::cross_entropy(logits.narrow(1, 0, 39).reshape({-1, c.vocab_size}),
                                                tokens.narrow(1, 1, 39).reshape({-1}));
  };
  auto l32 = loss_of(ref), l8 = loss_of(fp8);
  l32.backward();
  l8.backward();
  EXPECT_NEAR(l8.item<double>(), l32.item<double>(), 0.01 * l32.item<double>());
  auto p32 = ref->named_parameters(), p8 = fp8->named_parameters();
  int64_t checked = 0;
  std::vector<torch::Tensor> all8, all32;
  for (const auto& item : p8) {
    const torch::Tensor& g8 = item.value().grad();
    const torch::Tensor& g32 = p32[item.key()].grad();
    ASSERT_EQ(item.value().scalar_type(), torch::kFloat32) << item.key();
    if (!g32.defined() || g32.norm().item<double>() == 0) continue;  // e.g. experts no token chose
    ASSERT_TRUE(g8.defined()) << item.key();
    if (item.key().find(".experts.") == std::string::npos) EXPECT_LT(rel_err(g8, g32), 0.8) << item.key();
    all8.push_back(g8.reshape({-1}));
    all32.push_back(g32.reshape({-1}));
    ++checked;
  }
  EXPECT_GT(checked, 20);
  const double overall = rel_err(torch::cat(all8), torch::cat(all32));
  std::printf("FP8 training gradients vs FP32, whole vector: relative error %.3f over %lld tensors\n", overall,
              static_cast<long long>(checked));
  EXPECT_LT(overall, 0.4);

  disable_fp8_training(fp8);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(fp8->forward(tokens).logits, ref->forward(tokens).logits));
}

TEST(Fp8Training, RefusesAnFp8InferenceModel) {
  ModelConfig c = load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json");
  CausalLM lm(c);
  quantize_model_fp8(lm);
  EXPECT_THROW(enable_fp8_training(lm), std::exception);
}

}  // namespace
}  // namespace grpo::model
