// Sampling against hand-computed distributions. Fixture logits [2, 1, 0, −1]:
//   softmax = [0.6439143, 0.2368828, 0.0871443, 0.0320586]
#include <gtest/gtest.h>

#include "common/error.h"
#include "rollout/sampling.h"

using namespace grpo::rollout;

namespace {
const torch::Tensor kLogits = torch::tensor({2.0f, 1.0f, 0.0f, -1.0f});
// FP32 softmax of O(1) logits: ~1e-7 relative; 1e-6 absolute.
constexpr double kTol = 1e-6;

void expect_probs(const torch::Tensor& got, std::vector<double> want) {
  ASSERT_EQ(got.size(0), static_cast<int64_t>(want.size()));
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(got[static_cast<int64_t>(i)].item<double>(), want[i], kTol) << "token " << i;
}
}  // namespace

TEST(Sampling, TemperatureOneIsSoftmax) {
  expect_probs(sampling_probs(kLogits, {}), {0.6439143, 0.2368828, 0.0871443, 0.0320586});
}

TEST(Sampling, TopKKeepsTheKMostLikely) {
  SamplingParams p;
  p.top_k = 2;
  expect_probs(sampling_probs(kLogits, p), {0.7310586, 0.2689414, 0, 0});
}

TEST(Sampling, TopPKeepsTheSmallestSetReachingP) {
  SamplingParams p;
  p.top_p = 0.9;  // mass before token 2 is 0.8808 < 0.9 → keep 0, 1, 2
  expect_probs(sampling_probs(kLogits, p), {0.6652410, 0.2447285, 0.0900306, 0});
  p.top_p = 0.6;  // token 0 alone has 0.644 ≥ 0.6
  expect_probs(sampling_probs(kLogits, p), {1, 0, 0, 0});
}

TEST(Sampling, MinPDropsTokensBelowAFractionOfTheMax) {
  SamplingParams p;
  p.min_p = 0.2;  // threshold 0.1288: keep tokens 0 and 1
  expect_probs(sampling_probs(kLogits, p), {0.7310586, 0.2689414, 0, 0});
}

TEST(Sampling, RepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits) {
  SamplingParams p;
  p.repetition_penalty = 2.0;
  p.temperature = 0.0;  // greedy, to read the arg-max
  // logits [2, 1.5, 0, −1] with history {0, 3} become [1, 1.5, 0, −2]: token 1 now wins
  auto probs = sampling_probs(torch::tensor({2.0f, 1.5f, 0.0f, -1.0f}), p, {0, 3});
  EXPECT_EQ(probs.argmax().item<int64_t>(), 1);
}

TEST(Sampling, BehaviourLogprobIsTemperedAndUntruncated) {
  // T = 0.5: log softmax([4, 2, 0, −2])[1] = 2 − log(e⁴ + e² + 1 + e⁻²) = −2.1450779
  auto lp = behaviour_logprobs(kLogits.unsqueeze(0), torch::tensor({1L}), 0.5);
  EXPECT_NEAR(lp.item<double>(), -2.1450779, kTol);
  // Truncation does not change it: sample with top_k = 2 and read the returned log-prob.
  SamplingParams p;
  p.temperature = 0.5;
  p.top_k = 2;
  for (uint64_t step = 0; step < 50; ++step) {
    auto s = sample_tokens(kLogits.unsqueeze(0), {p}, {0}, {step});
    ASSERT_LT(s[0].token, 2);
    auto want = behaviour_logprobs(kLogits.unsqueeze(0), torch::tensor({s[0].token}), 0.5).item<float>();
    EXPECT_FLOAT_EQ(s[0].logprob, want);
  }
}

TEST(Sampling, GreedyPicksArgMaxWithLogprobAtTemperatureOne) {
  SamplingParams p;
  p.temperature = 0.0;
  auto s = sample_tokens(kLogits.unsqueeze(0), {p}, {0}, {0});
  EXPECT_EQ(s[0].token, 0);
  EXPECT_NEAR(s[0].logprob, std::log(0.6439143), kTol);
}

TEST(Sampling, EmpiricalFrequenciesMatchTheDistribution) {
  // 20000 draws: the std of a frequency is ≤ 0.0035, so 0.015 is > 4σ. The draws are seeded,
  // so this test is deterministic, not flaky.
  SamplingParams p;
  p.seed = 1234;
  std::vector<int> counts(4, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i)
    counts[static_cast<size_t>(draw(sampling_probs(kLogits, p), uniform_for(p.seed, 7, static_cast<uint64_t>(i))))]++;
  std::vector<double> want = {0.6439143, 0.2368828, 0.0871443, 0.0320586};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / double(n), want[i], 0.015) << "token " << i;
}

TEST(Sampling, SameSeedSameTokensWhateverTheBatch) {
  torch::manual_seed(0);
  torch::Tensor a = torch::randn({1, 50}), b = torch::randn({1, 50});
  SamplingParams p;
  p.seed = 99;
  for (uint64_t step = 0; step < 20; ++step) {
    auto alone = sample_tokens(b, {p}, {3}, {step});
    auto batched = sample_tokens(torch::cat({a, b}), {p, p}, {0, 3}, {step, step});
    EXPECT_EQ(alone[0].token, batched[1].token);
    EXPECT_FLOAT_EQ(alone[0].logprob, batched[1].logprob);
  }
}

TEST(Sampling, DifferentStreamsDiverge) {
  int differ = 0;
  for (uint64_t step = 0; step < 64; ++step) differ += uniform_for(1, 0, step) != uniform_for(1, 1, step);
  EXPECT_EQ(differ, 64);
}

TEST(Sampling, ImpossibleSettingsNameTheField) {
  auto msg = [](SamplingParams p) {
    try {
      p.validate("request 3");
    } catch (const grpo::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  SamplingParams p;
  EXPECT_EQ(msg(p), "");
  p.top_p = 0.0;
  EXPECT_NE(msg(p).find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1;
  EXPECT_NE(msg(p).find("temperature"), std::string::npos);
  p = {};
  p.top_k = -2;
  EXPECT_NE(msg(p).find("top_k"), std::string::npos);
  p = {};
  p.min_p = 1.0;
  EXPECT_NE(msg(p).find("min_p"), std::string::npos);
  p = {};
  p.repetition_penalty = 0.0;
  EXPECT_NE(msg(p).find("request 3"), std::string::npos);
}
