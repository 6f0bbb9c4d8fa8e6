// Continuous batching over the paged latent cache: sequences of different prompts and lengths
// decode together, finished ones free their row and pages, waiting ones take them.
#include <gtest/gtest.h>

#include "rollout_test_util.h"

using namespace grpo;
using namespace grpo::rollout;
using namespace grpo::rollout::rtest;

namespace {

// Few rows and few pages, so sequences must wait for others to finish and reuse their pages.
GeneratorOptions tight() {
  GeneratorOptions o;
  o.max_batch_rows = 3;
  o.page_size = 4;
  // micro config: (16 + 4) × 2 layers × 4 B = 160 B/token; 12 pages of 4 positions hold two of
  // the longest sequences below (5 pages each), so a third waits for pages as well as for rows.
  o.cache_budget_bytes = 160 * 4 * 12;
  return o;
}

}  // namespace

TEST(ContinuousBatching, GreedyEqualsTheFullForwardForMixedPromptLengths) {
  auto lm = micro(31);
  std::vector<GenerationRequest> reqs = {request({1, 5, 9}, 2, 6, 0.0), request({1, 2, 3, 4, 5, 6, 7}, 2, 12, 0.0),
                                         request({1, 8}, 1, 3, 0.0),
                                         request({1, 9, 9, 4, 2, 7, 3, 3, 5, 6, 1}, 2, 9, 0.0)};
  Generator gen(lm, tight());
  auto results = gen.generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_TRUE(results[i].error.empty()) << results[i].error;
    auto want = greedy_reference(lm, reqs[i].prompt, reqs[i].max_new_tokens);
    for (const auto& c : results[i].completions) {
      EXPECT_EQ(c.tokens, want) << "request " << i;
      EXPECT_EQ(c.finish_reason, "length");
    }
  }
  EXPECT_LE(gen.stats().peak_rows, 3);
  EXPECT_LE(gen.stats().peak_cache_bytes, gen.stats().cache_bytes);
}

TEST(ContinuousBatching, NoRowIsDecodedAfterItsSequenceEnds) {
  // Every decode step advances only live sequences: Σ rows over steps = Σ (tokens − 1), the first
  // token of each coming from its prompt's prefill. A padded/masked idle row would add to the left.
  auto lm = micro(32);
  std::vector<GenerationRequest> reqs = {request({1, 2}, 3, 2, 1.0), request({1, 3, 4}, 2, 11, 1.0),
                                         request({1, 6, 6, 6}, 2, 5, 1.0)};
  Generator gen(lm, tight());
  auto results = gen.generate(reqs);
  int64_t expected = 0, longest = 0;
  for (const auto& r : results)
    for (const auto& c : r.completions) {
      expected += static_cast<int64_t>(c.tokens.size()) - 1;
      longest = std::max<int64_t>(longest, static_cast<int64_t>(c.tokens.size()));
    }
  EXPECT_EQ(gen.stats().rows_decoded, expected);
  // 7 sequences through 3 rows take more steps than the longest one alone, fewer than one by one.
  EXPECT_GE(gen.stats().steps, longest - 1);
  EXPECT_LT(gen.stats().steps, expected);
}

TEST(ContinuousBatching, SampledTokensDoNotDependOnTheBatch) {
  // Per-sequence seeds (seed, member, step): alone or among other requests, the same tokens.
  auto lm = micro(33);
  auto target = request({1, 4, 7, 2}, 3, 10, 0.9, 99);
  auto alone = generate(lm, {target}, {});
  auto mixed = Generator(lm, tight()).generate({request({1, 5}, 2, 7, 1.0), target, request({1, 2, 3}, 1, 4, 1.0)});
  ASSERT_TRUE(mixed[1].error.empty()) << mixed[1].error;
  for (size_t m = 0; m < 3; ++m) {
    EXPECT_EQ(alone[0].completions[m].tokens, mixed[1].completions[m].tokens) << "member " << m;
    for (size_t t = 0; t < alone[0].completions[m].logprobs.size(); ++t)
      EXPECT_NEAR(alone[0].completions[m].logprobs[t], mixed[1].completions[m].logprobs[t], 1e-5);
  }
  auto other_seed = target;
  other_seed.sampling.seed = 100;
  auto different = generate(lm, {other_seed}, {});
  EXPECT_NE(different[0].completions[0].tokens, alone[0].completions[0].tokens);
}

TEST(ContinuousBatching, LogprobsEqualTeacherForcedRecomputation) {
  // FP32: paged absorbed attention vs the training path's expanded attention reassociate sums;
  // log-probs are O(1..5), differences ~1e-6. Bound 1e-5.
  auto lm = micro(34);
  std::vector<GenerationRequest> reqs = {request({1, 4, 8}, 2, 10, 0.8), request({1, 2, 3, 4, 5, 6}, 2, 7, 1.3)};
  auto results = Generator(lm, tight()).generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i)
    for (const auto& c : results[i].completions) {
      auto want = teacher_forced_logprobs(lm, reqs[i].prompt, c.tokens, reqs[i].sampling.temperature);
      for (size_t t = 0; t < c.tokens.size(); ++t) EXPECT_NEAR(c.logprobs[t], want[t], 1e-5) << "token " << t;
    }
}

TEST(ContinuousBatching, AGroupLargerThanTheCacheFailsAloneAndOthersComplete) {
  auto lm = micro(35);
  auto o = tight();
  o.cache_budget_bytes = 160 * 8;  // 2 pages of 4 positions: 8 positions per sequence at most
  auto results = Generator(lm, o).generate({request({1, 2, 3}, 2, 20, 1.0), request({1, 2}, 4, 5, 1.0)});
  EXPECT_NE(results[0].error.find("cache_budget_bytes"), std::string::npos) << results[0].error;
  ASSERT_TRUE(results[1].error.empty()) << results[1].error;
  EXPECT_EQ(results[1].completions.size(), 4u);
  for (const auto& c : results[1].completions) EXPECT_EQ(c.tokens.size(), 5u);
}
