// FP8 linear layers and FP8 checkpoints (model/fp8_linear.h, model/checkpoint.h).
//
// Error bounds. e4m3 keeps 3 mantissa bits, so rounding one value to e4m3 (after the block
// scale has put it in range) has a relative error of at most 2^-4 and, for values whose
// mantissas are spread over the binade, an RMS relative error of about 2^-4/√3 · E[1/m] ≈ 0.026
// (m in [1, 2) the significand). A dot product of two quantized operands then carries
// ≈ √2 · 0.026 ≈ 0.037 relative RMS error (errors independent, averaging over K); block scaling
// pushes next to nothing into the subnormal range (that needs |x| < amax · 2^-6 / 448). So one
// FP8 linear is bounded here at 0.05 relative Frobenius error: a wrong scale (×2 or per-tile
// mix-up) gives O(1), a coarser format (2 mantissa bits) ≈ 0.07, both caught.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "kernels/fp8_gemm.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_linear.h"
#include "model/safetensors.h"
#include "model_test_util.h"

namespace grpo::model {
namespace {

double rel_err(const torch::Tensor& got, const torch::Tensor& want) {
  auto g = got.to(torch::kFloat64), w = want.to(torch::kFloat64);
  return ((g - w).norm() / w.norm()).item<double>();
}

ModelConfig tiny_config() { return load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny.json"); }

TEST(Fp8Linear, WhichWeightsAreFp8FollowsDeepSeek) {
  EXPECT_TRUE(is_fp8_weight_name("model.layers.0.self_attn.q_a_proj.weight"));
  EXPECT_TRUE(is_fp8_weight_name("model.layers.0.self_attn.kv_a_proj_with_mqa.weight"));
  EXPECT_TRUE(is_fp8_weight_name("model.layers.0.self_attn.o_proj.weight"));
  EXPECT_TRUE(is_fp8_weight_name("model.layers.0.mlp.down_proj.weight"));
  EXPECT_TRUE(is_fp8_weight_name("model.layers.3.mlp.experts.15.gate_proj.weight"));
  EXPECT_TRUE(is_fp8_weight_name("model.layers.3.mlp.shared_experts.up_proj.weight"));
  EXPECT_FALSE(is_fp8_weight_name("model.layers.3.mlp.gate.weight"));  // router
  EXPECT_FALSE(is_fp8_weight_name("model.layers.0.self_attn.q_a_layernorm.weight"));
  EXPECT_FALSE(is_fp8_weight_name("model.layers.0.input_layernorm.weight"));
  EXPECT_FALSE(is_fp8_weight_name("model.embed_tokens.weight"));
  EXPECT_FALSE(is_fp8_weight_name("lm_head.weight"));
  EXPECT_FALSE(is_fp8_weight_name("model.layers.4.eh_proj.weight"));
  EXPECT_FALSE(is_fp8_weight_name("model.layers.0.self_attn.q_a_proj.weight_scale_inv"));
}

TEST(Fp8Linear, QuantizedLayerRunsTheBlockScaledGemm) {
  torch::manual_seed(1);
  torch::nn::Linear lin(torch::nn::LinearOptions(300, 200).bias(false));  // ragged: 300 = 2.3·128
  auto want_w = lin->weight.detach().clone();
  quantize_linear_fp8(*lin);
  ASSERT_TRUE(is_fp8(*lin));
  Fp8Matrix w = fp8_weight(*lin);
  EXPECT_EQ(w.q.sizes(), torch::IntArrayRef({200, 300}));
  EXPECT_EQ(w.scale.sizes(), torch::IntArrayRef({2, 3}));
  EXPECT_FALSE(lin->weight.requires_grad());

  auto x = torch::randn({2, 5, 300});
  auto y = linear_forward(lin, x);
  ASSERT_EQ(y.sizes(), torch::IntArrayRef({2, 5, 200}));
  // Same quantized operands through the scalar reference GEMM: only FP32 summation order differs.
  Fp8Matrix a = fp8_quantize_act(x.reshape({10, 300}));
  auto ref = torch::empty({10, 200});
  kernels::Fp8GemmParams p;
  p.a = static_cast<const uint8_t*>(a.q.data_ptr());
  p.a_scale = a.scale.data_ptr<float>();
  p.w = static_cast<const uint8_t*>(w.q.data_ptr());
  p.w_scale_inv = w.scale.data_ptr<float>();
  p.y = ref.data_ptr<float>();
  p.m = 10, p.n = 200, p.k = 300;
  kernels::fp8_gemm_ref(p);
  EXPECT_LT(rel_err(y.reshape({10, 200}), ref), 1e-6);
  // Against the FP32 layer: the quantization error bound of the file comment.
  const double err = rel_err(y, torch::matmul(x, want_w.t()));
  std::printf("FP8 linear 300 -> 200 vs FP32: relative error %.4f\n", err);
  EXPECT_LT(err, 0.05) << "FP8 linear vs FP32, relative error";
  EXPECT_GT(err, 1e-3) << "suspiciously exact: is the input really quantized?";
}

TEST(Fp8Linear, ModelQuantizesOnlyDeepSeeksLinearsAndStaysCloseToFp32) {
  torch::NoGradGuard no_grad;
  ModelConfig c = tiny_config();
  CausalLM ref(c), fp8(c);
  init_weights(ref, 3);
  init_weights(fp8, 3);
  const int64_t n = quantize_model_fp8(fp8);
  // Per layer: q_a, q_b, kv_a, kv_b, o + 3 FFN projections × (dense | 16 routed + shared).
  const int64_t attn = 5, dense = 3, moe = 3 * (c.n_routed_experts + 1);
  const int64_t layers = c.num_hidden_layers + c.num_nextn_predict_layers;
  EXPECT_EQ(n, layers * attn + c.first_k_dense_replace * dense + (layers - c.first_k_dense_replace) * moe);
  EXPECT_EQ(fp8->lm_head->weight.scalar_type(), torch::kFloat32);
  EXPECT_EQ(fp8->model->embed_tokens->weight.scalar_type(), torch::kFloat32);

  auto tokens = mtest::random_tokens(4, 64, c.vocab_size, 5);
  auto l32 = ref->forward(tokens).logits, l8 = fp8->forward(tokens).logits;
  // Through the model the ≈ 0.037 per-projection error compounds over the chained projections
  // (q_a -> q_b, kv_a -> kv_b, gate/up -> down, 4 layers) and flips some of the MoE router's
  // top-k choices, which changes those tokens' expert outputs outright; even BF16 measures 0.06
  // logit relative error on this random-init model for that reason (bench_fp8_model, FP8: 0.18).
  // 0.3 bounds the FP8 logits' relative error; a broken projection gives ≈ 1.
  const double rel = rel_err(l8, l32);
  EXPECT_LT(rel, 0.3);
  // KL(P32 || P8) ≈ ½ E[(Δlogit − mean Δlogit)²] for small perturbations, so with Δ ≤ 0.3 · σ_logit
  // (σ ≈ 0.32 here) it is ≤ ½ (0.3 · 0.32)² ≈ 4.6e-3 nats/token.
  auto lp32 = torch::log_softmax(l32.to(torch::kFloat64), -1), lp8 = torch::log_softmax(l8.to(torch::kFloat64), -1);
  const double kl = (lp32.exp() * (lp32 - lp8)).sum(-1).mean().item<double>();
  EXPECT_LT(kl, 4.6e-3);
  // Top-1 agreement is the weakest signal on random weights: the median margin between the best
  // two logits (≈ 0.08) is close to the perturbation (≈ 0.06), so ~20% of argmaxes flip
  // (bench_fp8_model prints the measured numbers, also for a trained checkpoint). 0.6 only
  // rules out a broken model (≈ 1/vocab agreement).
  auto agree = (l8.argmax(-1) == l32.argmax(-1)).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(agree, 0.6);
  std::printf("tiny FP8 vs FP32: logit rel err %.4f, KL %.3e, top-1 agreement %.3f\n", rel, kl, agree);
}

TEST(Fp8Linear, LatentCachePathRunsOnFp8Weights) {
  torch::NoGradGuard no_grad;
  ModelConfig c = tiny_config();
  CausalLM lm(c);
  init_weights(lm, 8);
  quantize_model_fp8(lm);
  auto tokens = mtest::random_tokens(2, 24, c.vocab_size, 9);
  auto full = lm->forward(tokens).logits;
  LatentCache cache = LatentCache::allocate(c, 2, 24, torch::TensorOptions().dtype(torch::kFloat32));
  auto prefill = lm->forward_cached(tokens.narrow(1, 0, 16), cache).logits;
  auto rest = lm->forward_cached(tokens.narrow(1, 16, 8), cache).logits;
  auto cached = torch::cat({prefill, rest}, 1);
  // The absorbed path multiplies by the dequantized kv_b_proj (as DeepSeek's does) where the
  // full path runs it as an FP8 GEMM on the 1x128-quantized latent: one projection's worth of
  // activation-quantization error (≈ 0.026 relative, file comment) plus its effect downstream,
  // including router flips. Bound 0.3 as for the model above; a broken cache path gives ≈ 1.
  const double rel = rel_err(cached, full);
  std::printf("FP8 model, latent-cache path vs full forward: logit rel err %.4f\n", rel);
  EXPECT_LT(rel, 0.3);
}

TEST(Fp8Checkpoint, SavesDeepSeekLayoutAndLoadsItBitForBit) {
  torch::NoGradGuard no_grad;
  ModelConfig c = tiny_config();
  CausalLM lm(c);
  init_weights(lm, 4);
  quantize_model_fp8(lm);
  cast_unquantized(lm, torch::kBFloat16);
  const std::string dir = (std::filesystem::temp_directory_path() / "grpo_test_fp8_ckpt").string();
  mtest::remove_tree(dir);
  save_checkpoint(lm, dir);

  auto ckpt = safetensors::Checkpoint::open(dir);
  const std::string w = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight";
  EXPECT_EQ(ckpt.tensor(w).scalar_type(), torch::kFloat8_e4m3fn);
  EXPECT_EQ(ckpt.tensor(w + "_scale_inv").scalar_type(), torch::kFloat32);
  EXPECT_EQ(ckpt.tensor(w + "_scale_inv").sizes(), torch::IntArrayRef({2, 2}));  // 144 rows -> 2 scale rows
  EXPECT_EQ(ckpt.tensor("lm_head.weight").scalar_type(), torch::kBFloat16);
  EXPECT_EQ(ckpt.tensor("model.layers.1.mlp.gate.e_score_correction_bias").scalar_type(), torch::kFloat32);
  EXPECT_FALSE(ckpt.contains("model.layers.1.mlp.gate.weight_scale_inv"));
  ModelConfig saved = load_config(dir);
  ASSERT_TRUE(saved.quantization_config.has_value());
  EXPECT_EQ(saved.quantization_config->weight_block_size, (std::vector<int64_t>{128, 128}));

  LoadReport report;
  CausalLM back = load_checkpoint_fp8(dir, torch::kBFloat16, &report);
  EXPECT_EQ(report.fp8_kept, count_fp8_linears(lm));
  EXPECT_EQ(report.fp8_quantized, 0);
  auto a = checkpoint_tensors(lm), b = checkpoint_tensors(back);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    ASSERT_EQ(a[i].second.scalar_type(), b[i].second.scalar_type()) << a[i].first;
    EXPECT_TRUE(torch::equal(a[i].second.view(torch::kUInt8), b[i].second.view(torch::kUInt8))) << a[i].first;
  }
  auto tokens = mtest::random_tokens(1, 16, c.vocab_size, 6);
  EXPECT_TRUE(torch::equal(lm->forward(tokens).logits, back->forward(tokens).logits));

  // The default loader dequantizes the same file: same weights, only activations differ.
  LoadReport deq_report;
  CausalLM deq = load_checkpoint(dir, torch::kFloat32, &deq_report);
  EXPECT_EQ(deq_report.fp8_weights, count_fp8_linears(lm));
  EXPECT_EQ(count_fp8_linears(deq), 0);
  for (auto& [name, linear] : fp8_linears(lm)) {
    auto dq = fp8_dequantize_weight(fp8_weight(*linear));
    bool found = false;
    for (auto& [n2, l2] : fp8_linears(deq))
      if (n2 == name) {
        EXPECT_TRUE(torch::equal(dq, l2->weight)) << name;
        found = true;
      }
    EXPECT_TRUE(found) << name;
    break;  // one layer is enough for the exactness; the logits below cover the rest
  }
  // Only the activations' 1x128 quantization (and BF16 elsewhere) differs: the model bound above.
  EXPECT_LT(rel_err(deq->forward(tokens).logits, lm->forward(tokens).logits.to(torch::kFloat32)), 0.3);
  mtest::remove_tree(dir);
}

TEST(Fp8Checkpoint, Fp32CheckpointIsQuantizedOnLoad) {
  torch::NoGradGuard no_grad;
  ModelConfig c = tiny_config();
  CausalLM lm(c);
  init_weights(lm, 7);
  const std::string dir = (std::filesystem::temp_directory_path() / "grpo_test_fp8_from_fp32").string();
  mtest::remove_tree(dir);
  save_checkpoint(lm, dir);
  LoadReport report;
  CausalLM q = load_checkpoint_fp8(dir, torch::kFloat32, &report);
  EXPECT_EQ(report.fp8_kept, 0);
  EXPECT_EQ(report.fp8_quantized, count_fp8_linears(q));
  auto layers = fp8_linears(q);
  const auto& [name, linear] = layers.front();
  CausalLM ref(c);
  init_weights(ref, 7);
  for (auto& [n2, l2] : fp8_linears(ref))
    if (n2 == name) {
      Fp8Matrix want = fp8_quantize_weight(l2->weight);
      EXPECT_TRUE(torch::equal(fp8_weight(*linear).q.view(torch::kUInt8), want.q.view(torch::kUInt8)));
      EXPECT_TRUE(torch::equal(fp8_weight(*linear).scale, want.scale));
    }
  mtest::remove_tree(dir);
}

}  // namespace
}  // namespace grpo::model
