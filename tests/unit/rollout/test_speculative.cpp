// MTP speculative decoding: the acceptance rule keeps the main model's distribution exactly,
// greedy output does not change, and recorded log-probs stay the main model's.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "rollout/speculative.h"
#include "rollout_test_util.h"

using namespace grpo;
using namespace grpo::rollout;
using namespace grpo::rollout::rtest;

namespace {

GeneratorOptions drafting(int64_t rows = 64) {
  GeneratorOptions o;
  o.speculative = 1;
  o.max_batch_rows = rows;
  return o;
}

// Pearson χ² of counts against expected counts, bins with expected < 5 pooled into one.
std::pair<double, int64_t> chi_square(const std::vector<double>& observed, const std::vector<double>& expected) {
  double stat = 0, pooled_o = 0, pooled_e = 0;
  int64_t bins = 0;
  for (size_t i = 0; i < observed.size(); ++i) {
    if (expected[i] < 5) {
      pooled_o += observed[i];
      pooled_e += expected[i];
      continue;
    }
    stat += (observed[i] - expected[i]) * (observed[i] - expected[i]) / expected[i];
    ++bins;
  }
  if (pooled_e > 0) {
    stat += (pooled_o - pooled_e) * (pooled_o - pooled_e) / pooled_e;
    ++bins;
  }
  return {stat, bins - 1};
}

}  // namespace

TEST(Speculative, TheAcceptanceRuleReproducesTheTargetDistribution) {
  // Draft q far from target p (including a token q never proposes and one p never takes): the
  // verdicts must be distributed as p. χ², 5 degrees of freedom, significance 0.001.
  auto p = torch::tensor({0.30, 0.05, 0.25, 0.0, 0.10, 0.30});
  auto q = torch::tensor({0.05, 0.40, 0.05, 0.30, 0.20, 0.0});
  const int n = 40000;
  std::vector<double> counts(6, 0);
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    const int64_t d = draw(q, uniform_for(1, 0, static_cast<uint64_t>(i)));
    auto v =
        verify_draft(p, q, d, uniform_for(2, 0, static_cast<uint64_t>(i)), uniform_for(3, 0, static_cast<uint64_t>(i)));
    counts[static_cast<size_t>(v.token)] += 1;
    accepted += v.accepted;
  }
  std::vector<double> expected(6);
  for (int64_t k = 0; k < 6; ++k) expected[static_cast<size_t>(k)] = n * p[k].item<double>();
  EXPECT_EQ(counts[3], 0);  // p(3) = 0: never produced, although q proposes it 30% of the time
  auto [stat, df] = chi_square(counts, expected);
  EXPECT_LT(stat, chi2_critical_001(static_cast<double>(df))) << "df " << df;
  // Acceptance probability Σ min(p, q) = 0.05+0.05+0.05+0+0.10+0 = 0.25.
  EXPECT_NEAR(accepted / static_cast<double>(n), 0.25, 0.01);  // ±0.01 ≈ 4.6 standard errors
  // Greedy: one-hots accept only the arg-max and otherwise return it.
  auto one = [](int64_t k) { return torch::one_hot(torch::tensor(k), 6).to(torch::kFloat64); };
  EXPECT_EQ(verify_draft(one(2), one(4), 4, 0.0, 0.5).token, 2);
  EXPECT_TRUE(verify_draft(one(2), one(2), 2, 0.999, 0.5).accepted);
}

TEST(Speculative, GreedyOutputIsIdenticalWithAndWithoutDrafting) {
  auto lm = micro(41);
  std::vector<GenerationRequest> reqs = {request({1, 5, 9}, 2, 14, 0.0), request({1, 2, 3, 4, 5, 6, 7}, 1, 11, 0.0),
                                         request({1}, 2, 9, 0.0)};
  auto plain = generate(lm, reqs, {});
  auto spec = generate(lm, reqs, drafting(3));
  int64_t drafted = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(spec[i].error.empty()) << spec[i].error;
    auto want = greedy_reference(lm, reqs[i].prompt, reqs[i].max_new_tokens);
    for (size_t m = 0; m < plain[i].completions.size(); ++m) {
      EXPECT_EQ(spec[i].completions[m].tokens, plain[i].completions[m].tokens) << "request " << i;
      EXPECT_EQ(spec[i].completions[m].tokens, want) << "request " << i;
      EXPECT_EQ(spec[i].completions[m].finish_reason, "length");
    }
    drafted += spec[i].drafted;
  }
  EXPECT_GT(drafted, 0);
}

TEST(Speculative, SampledNextTokenFollowsTheMainModel) {
  // Fixed prompt, 6000 sequences of 2 tokens at T = 1: token 1 comes from the prefill, token 2 from
  // a draft + verify step. Given the observed first tokens x1_i, token 2 must be distributed as
  // Σ_i p(· | prompt, x1_i) under the main model (full forward). Pearson χ² over the vocabulary,
  // bins with expected < 5 pooled, significance 0.001.
  auto lm = micro(42);
  const std::vector<int64_t> prompt = {1, 7, 3, 12};
  const int64_t n = 6000;
  auto r = request(prompt, n, 2, 1.0, 5);
  auto out = generate(lm, {r}, drafting(512));
  ASSERT_TRUE(out[0].error.empty()) << out[0].error;
  const int64_t vocab = lm->config.vocab_size;
  std::map<int64_t, int64_t> first_counts;
  std::vector<double> observed(static_cast<size_t>(vocab), 0);
  for (const auto& c : out[0].completions) {
    ASSERT_EQ(c.tokens.size(), 2u);
    first_counts[c.tokens[0]]++;
    observed[static_cast<size_t>(c.tokens[1])] += 1;
  }
  // Both branches of the rule ran: some drafts kept, some rejected.
  EXPECT_GT(out[0].accepted, 0);
  EXPECT_LT(out[0].accepted, out[0].drafted);
  torch::NoGradGuard no_grad;
  std::vector<double> expected(static_cast<size_t>(vocab), 0), drafted(static_cast<size_t>(vocab), 0);
  const auto last = static_cast<int64_t>(prompt.size());  // index of x1 in prompt + x1
  for (const auto& [x1, count] : first_counts) {
    auto seq = prompt;
    seq.push_back(x1);
    auto tokens = torch::tensor(seq).unsqueeze(0);
    auto main = lm->forward(tokens);
    auto p = torch::softmax(main.logits[0][last].to(torch::kFloat64), 0);
    // MTP module 1 at position last-1 (input token x1) drafts x2.
    auto q = torch::softmax(lm->forward_mtp(main, tokens)[0][0][last - 1].to(torch::kFloat64), 0);
    for (int64_t v = 0; v < vocab; ++v) {
      expected[static_cast<size_t>(v)] += static_cast<double>(count) * p[v].item<double>();
      drafted[static_cast<size_t>(v)] += static_cast<double>(count) * q[v].item<double>();
    }
  }
  auto [stat, df] = chi_square(observed, expected);
  EXPECT_LT(stat, chi2_critical_001(static_cast<double>(df)))
      << "df " << df << ", acceptance " << out[0].acceptance_rate();
  // Negative control: the same counts against the draft's own distribution are rejected, so the
  // test tells "follows the main model" from "follows the draft".
  auto [stat_q, df_q] = chi_square(observed, drafted);
  EXPECT_GT(stat_q, chi2_critical_001(static_cast<double>(df_q))) << "df " << df_q;
}

TEST(Speculative, LogprobsAreTheMainModelsUnderTeacherForcing) {
  // Recorded log-probs of accepted drafts, residual draws and bonus tokens all equal
  // log softmax(logits/T) of the main model under a full forward: ≤ 1e-5 in FP32.
  auto lm = micro(43);
  std::vector<GenerationRequest> reqs = {request({1, 4, 8}, 4, 12, 0.7), request({1, 2, 3, 4, 5}, 3, 9, 1.0)};
  auto results = generate(lm, reqs, drafting(4));
  int64_t accepted = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(results[i].error.empty()) << results[i].error;
    accepted += results[i].accepted;
    for (const auto& c : results[i].completions) {
      ASSERT_EQ(c.tokens.size(), static_cast<size_t>(reqs[i].max_new_tokens));
      auto want = teacher_forced_logprobs(lm, reqs[i].prompt, c.tokens, reqs[i].sampling.temperature);
      for (size_t t = 0; t < c.tokens.size(); ++t) EXPECT_NEAR(c.logprobs[t], want[t], 1e-5) << "token " << t;
    }
  }
  EXPECT_GT(accepted, 0);
}
