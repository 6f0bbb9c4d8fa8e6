// The rollout engine's paged forward is the model's one inference path: over pages it records the
// same intermediates, with the same values, as CausalLM::forward_cached over a contiguous cache,
// and the packed FFN layout changes only the GEMM operands (FP64, so any real difference shows).
#include <gtest/gtest.h>

#include <algorithm>

#include "../model/model_test_util.h"
#include "model/activation_tap.h"
#include "model/latent_cache.h"
#include "rollout/paged_forward.h"

using namespace grpo;

namespace {

constexpr int64_t kLen = 7, kPrefill = 4;

// Prefill kPrefill tokens, then one decode step per token, through the paged cache (pages of 2
// positions, so the rows' slots are scattered).
torch::Tensor paged_logits(rollout::PagedModel& net, const std::vector<int64_t>& ids, model::ActivationTap* tap) {
  const auto& c = net.lm()->config;
  auto cache = model::PagedLatentCache::allocate(c, c.num_hidden_layers, 1 << 16, 2, torch::kFloat64);
  cache.take(1);  // so the row's pages do not start at slot 1
  auto pages = cache.take(cache.pages_for(kLen));
  std::vector<torch::Tensor> out;
  for (int64_t at = 0; at < kLen;) {
    const int64_t n = at == 0 ? kPrefill : 1;
    rollout::PagedRow row{&pages, at, std::vector<int64_t>(ids.begin() + at, ids.begin() + at + n)};
    out.push_back(net.forward(cache, rollout::make_paged_batch(cache, {row}), tap).logits);
    at += n;
  }
  return torch::cat(out, 1);
}

}  // namespace

TEST(PagedForward, SameIntermediatesAsTheContiguousCache) {
  auto c = model::mtest::micro_config();
  auto lm = model::mtest::random_model(c, 21);
  torch::NoGradGuard no_grad;
  auto tokens = model::mtest::random_tokens(1, kLen, c.vocab_size, 22);
  std::vector<int64_t> ids(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + kLen);

  model::ActivationTap contiguous;
  auto cache = model::LatentCache::allocate(c, 1, kLen, torch::kFloat64);
  lm->forward_cached(tokens.narrow(1, 0, kPrefill), cache, {}, {}, false, &contiguous);
  for (int64_t i = kPrefill; i < kLen; ++i)
    lm->forward_cached(tokens.narrow(1, i, 1), cache, {}, {}, false, &contiguous);

  rollout::PagedModel net(lm);  // not repacked: the layers' own FFN weights
  model::ActivationTap paged;
  paged_logits(net, ids, &paged);

  ASSERT_EQ(paged.names, contiguous.names);
  EXPECT_NE(std::find(paged.names.begin(), paged.names.end(), "model.layers.1.mlp"), paged.names.end());
  for (const auto& name : paged.names) {
    auto a = paged.joined(name), b = contiguous.joined(name);
    ASSERT_EQ(a.sizes(), b.sizes()) << name;
    // Only the gather differs (index_select of page slots vs a narrow of the contiguous rows).
    EXPECT_TRUE(torch::allclose(a, b, /*rtol=*/1e-12, /*atol=*/1e-12)) << name;
  }
}

TEST(PagedForward, PackedFfnLayoutChangesOnlyTheGemmOperands) {
  auto c = model::mtest::micro_config();
  auto lm = model::mtest::random_model(c, 23);
  torch::NoGradGuard no_grad;
  auto tokens = model::mtest::random_tokens(1, kLen, c.vocab_size, 24);
  std::vector<int64_t> ids(tokens.data_ptr<int64_t>(), tokens.data_ptr<int64_t>() + kLen);
  rollout::PagedModel net(lm);
  auto plain = paged_logits(net, ids, nullptr);
  net.repack();
  auto packed = paged_logits(net, ids, nullptr);
  auto full = lm->forward(tokens).logits;  // the reference: expanded attention
  EXPECT_TRUE(torch::allclose(packed, plain, 1e-12, 1e-12));
  EXPECT_TRUE(torch::allclose(packed, full, 1e-10, 1e-10)) << (packed - full).abs().max().item<double>();
}
