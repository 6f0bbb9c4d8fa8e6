#include <gtest/gtest.h>

#include "common/error.h"
#include "model/latent_cache.h"
#include "model_test_util.h"

using namespace grpo::model;

namespace {

// All in FP64: the absorbed and expanded paths are the same function reassociated, so they
// agree to ~1e-14 of the logits; 1e-10 leaves room and still catches any real difference.
constexpr double kTol = 1e-10;

torch::Tensor run_pieces(CausalLM& lm, const torch::Tensor& tokens, const std::vector<int64_t>& pieces,
                         const torch::Tensor& mask = {}, const torch::Tensor& positions = {}) {
  auto cache = LatentCache::allocate(lm->config, tokens.size(0), tokens.size(1), torch::kFloat64);
  std::vector<torch::Tensor> out;
  int64_t at = 0;
  for (int64_t n : pieces) {
    auto m = mask.defined() ? mask.narrow(1, at, n) : torch::Tensor();
    auto p = positions.defined() ? positions.narrow(1, at, n) : torch::Tensor();
    out.push_back(lm->forward_cached(tokens.narrow(1, at, n), cache, m, p).logits);
    at += n;
  }
  EXPECT_EQ(cache.length, tokens.size(1));
  return torch::cat(out, 1);
}

class LatentCacheTest : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(LatentCacheTest, AbsorbedPathReproducesFullForward) {
  torch::NoGradGuard no_grad;
  ModelConfig c = mtest::micro_config(/*q_lora=*/GetParam());
  CausalLM lm = mtest::random_model(c, 1);
  auto tokens = mtest::random_tokens(2, 9, c.vocab_size, 2);
  auto full = lm->forward(tokens).logits;  // [2, 9, V]
  const double scale = full.abs().max().item<double>();
  EXPECT_LT(mtest::max_abs_diff(run_pieces(lm, tokens, std::vector<int64_t>(9, 1)), full), kTol * scale);
  EXPECT_LT(mtest::max_abs_diff(run_pieces(lm, tokens, {4, 5}), full), kTol * scale);        // two-chunk prefill
  EXPECT_LT(mtest::max_abs_diff(run_pieces(lm, tokens, {9}), full), kTol * scale);           // one prefill
  EXPECT_LT(mtest::max_abs_diff(run_pieces(lm, tokens, {3, 1, 1, 4}), full), kTol * scale);  // mixed
}

INSTANTIATE_TEST_SUITE_P(QLoraAndDirectQ, LatentCacheTest, ::testing::Values(true, false));

// Left padding: positions count real tokens only; pads are never attended to.
TEST(LatentCache, LeftPaddedBatchMatchesUnpaddedRows) {
  torch::NoGradGuard no_grad;
  ModelConfig c = mtest::micro_config();
  CausalLM lm = mtest::random_model(c, 3);
  auto tokens = mtest::random_tokens(2, 8, c.vocab_size, 4);
  auto mask = torch::ones({2, 8}, torch::kLong);
  mask[1].narrow(0, 0, 3).zero_();  // row 1: 3 pads then 5 real tokens
  auto positions = (mask.cumsum(1) - 1).clamp_min(0);
  auto padded = run_pieces(lm, tokens, {4, 1, 1, 1, 1}, mask, positions);
  auto full = lm->forward(tokens, mask, positions).logits;
  auto alone = lm->forward(tokens[1].narrow(0, 3, 5).unsqueeze(0)).logits;  // row 1 without its pads
  const double scale = alone.abs().max().item<double>();
  EXPECT_LT(mtest::max_abs_diff(padded[1].narrow(0, 3, 5), alone[0]), kTol * scale);
  EXPECT_LT(mtest::max_abs_diff(full[1].narrow(0, 3, 5), alone[0]), kTol * scale);
  EXPECT_LT(mtest::max_abs_diff(padded[0], full[0]), kTol * scale);
  EXPECT_FALSE(torch::isnan(padded).any().item<bool>());  // padded queries see themselves, never an empty row
}

// Prefill once, fork G ways, decode different continuations.
TEST(LatentCache, ForkSharesThePrefill) {
  torch::NoGradGuard no_grad;
  ModelConfig c = mtest::micro_config();
  CausalLM lm = mtest::random_model(c, 5);
  auto prompt = mtest::random_tokens(1, 5, c.vocab_size, 6);
  auto cache = LatentCache::allocate(c, 1, 8, torch::kFloat64);
  lm->forward_cached(prompt, cache);
  auto forked = cache.fork(3);
  EXPECT_EQ(forked.batch(), 3);
  auto next = torch::tensor({{7}, {8}, {9}}, torch::kLong);
  auto step = lm->forward_cached(next, forked).logits;  // [3, 1, V]
  for (int g = 0; g < 3; ++g) {
    auto seq = torch::cat({prompt[0], next[g]}).unsqueeze(0);
    auto full = lm->forward(seq).logits[0][5];
    EXPECT_LT(mtest::max_abs_diff(step[g][0], full), kTol * full.abs().max().item<double>());
  }
}

TEST(LatentCache, BytesPerTokenIsLatentPlusRope) {
  ModelConfig c = mtest::micro_config();
  auto bf16 = LatentCache::allocate(c, 1, 4, torch::kBFloat16);
  EXPECT_EQ(bf16.bytes_per_token(), (c.kv_lora_rank + c.qk_rope_head_dim) * c.num_hidden_layers * 2);
  EXPECT_EQ(bf16.bytes_per_token(), c.latent_cache_bytes_per_token(2));
  auto f32 = LatentCache::allocate(c, 1, 4, torch::kFloat32);
  EXPECT_EQ(f32.bytes_per_token(), c.latent_cache_bytes_per_token(4));
}

TEST(LatentCache, OverflowIsAnError) {
  torch::NoGradGuard no_grad;
  ModelConfig c = mtest::micro_config();
  CausalLM lm = mtest::random_model(c, 7);
  auto cache = LatentCache::allocate(c, 1, 4, torch::kFloat64);
  lm->forward_cached(mtest::random_tokens(1, 3, c.vocab_size, 1), cache);
  EXPECT_THROW(lm->forward_cached(mtest::random_tokens(1, 2, c.vocab_size, 1), cache), grpo::Error);
  EXPECT_THROW(lm->forward(torch::tensor({{0, 64}}, torch::kLong)), grpo::Error);  // id past the vocabulary
}
