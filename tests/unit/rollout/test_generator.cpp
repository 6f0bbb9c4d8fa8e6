#include <gtest/gtest.h>

#include <set>

#include "../model/model_test_util.h"
#include "rollout/generator.h"

using namespace grpo;
using namespace grpo::rollout;

namespace {

model::CausalLM tiny(uint64_t seed) {
  auto lm = model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
  lm->eval();
  return lm;
}

// Greedy continuation by re-running the full (training-path) forward on the growing sequence.
std::vector<int64_t> greedy_reference(model::CausalLM& lm, std::vector<int64_t> seq, int n) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto logits = lm->forward(torch::tensor(seq).unsqueeze(0)).logits[0][static_cast<int64_t>(seq.size()) - 1];
    out.push_back(logits.argmax().item<int64_t>());
    seq.push_back(out.back());
  }
  return out;
}

GenerationRequest request(std::vector<int64_t> prompt, int64_t g, int64_t n, double temperature) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.group_size = g;
  r.max_new_tokens = n;
  r.sampling.temperature = temperature;
  r.sampling.seed = 7;
  return r;
}

}  // namespace

TEST(Generator, GreedyThroughTheLatentCacheMatchesTheFullForward) {
  auto lm = tiny(11);
  auto results = generate(lm, {request({1, 5, 9, 3}, 2, 12, 0.0)}, {});
  ASSERT_TRUE(results[0].error.empty()) << results[0].error;
  auto want = greedy_reference(lm, {1, 5, 9, 3}, 12);
  ASSERT_EQ(results[0].completions.size(), 2u);
  for (const auto& c : results[0].completions) {
    EXPECT_EQ(c.tokens, want);
    EXPECT_EQ(c.finish_reason, "length");
  }
}

TEST(Generator, RecordedLogprobsEqualTheLearnersRecomputation) {
  // The rollout's behaviour log-probs and the learner's log softmax(logits/T) over the full
  // sequence must agree: FP32, cache path vs full path, ≤ 1e-4 absolute on O(1) log-probs.
  auto lm = tiny(12);
  auto r = request({1, 4, 8}, 3, 10, 0.8);
  auto results = generate(lm, {r}, {});
  ASSERT_TRUE(results[0].error.empty()) << results[0].error;
  torch::NoGradGuard no_grad;
  for (const auto& c : results[0].completions) {
    std::vector<int64_t> seq = r.prompt;
    seq.insert(seq.end(), c.tokens.begin(), c.tokens.end());
    auto logits = lm->forward(torch::tensor(seq).unsqueeze(0)).logits[0];  // [S, V]
    auto targets = torch::tensor(std::vector<int64_t>(seq.begin() + 1, seq.end()));
    auto lp = behaviour_logprobs(logits.slice(0, 0, static_cast<int64_t>(seq.size()) - 1), targets, 0.8);
    for (size_t t = 0; t < c.tokens.size(); ++t)
      EXPECT_NEAR(c.logprobs[t], lp[static_cast<int64_t>(r.prompt.size() - 1 + t)].item<float>(), 1e-4)
          << "token " << t;
  }
}

TEST(Generator, SeededSamplingIsReproducibleAndGroupMembersDiffer) {
  auto lm = tiny(13);
  auto a = generate(lm, {request({1, 2, 3}, 4, 16, 1.0)}, {});
  auto b = generate(lm, {request({1, 2, 3}, 4, 16, 1.0)}, {});
  std::set<std::vector<int64_t>> distinct;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(a[0].completions[i].tokens, b[0].completions[i].tokens);
    distinct.insert(a[0].completions[i].tokens);
  }
  EXPECT_GT(distinct.size(), 1u);
}

TEST(Generator, EosAndStopStringsEndACompletion) {
  auto lm = tiny(14);
  auto want = greedy_reference(lm, {1, 6, 7}, 3);
  GeneratorOptions eos;
  eos.eos_token_ids = {want[1]};
  auto r = generate(lm, {request({1, 6, 7}, 1, 10, 0.0)}, eos);
  ASSERT_TRUE(r[0].error.empty());
  // Ends at the first occurrence of the EOS id (which may already be the first token).
  const auto& c = r[0].completions[0];
  EXPECT_EQ(c.finish_reason, "eos");
  EXPECT_EQ(c.tokens.back(), want[1]);

  GeneratorOptions text;
  text.decode = [](const std::vector<int64_t>& ids) {
    std::string s;
    for (auto id : ids) s += "<" + std::to_string(id) + ">";
    return s;
  };
  auto req = request({1, 6, 7}, 1, 10, 0.0);
  req.stop = {"<" + std::to_string(want[2]) + ">"};  // a stop string spanning a whole token
  auto s = generate(lm, {req}, text);
  ASSERT_TRUE(s[0].error.empty()) << s[0].error;
  EXPECT_EQ(s[0].completions[0].finish_reason, "stop");
  EXPECT_LE(s[0].completions[0].tokens.size(), 3u);
}

TEST(Generator, BadRequestsFailAloneWithClearErrors) {
  auto lm = tiny(15);
  std::vector<GenerationRequest> reqs = {request({}, 1, 4, 1.0), request({1, 999}, 1, 4, 1.0),
                                         request({1, 2}, 2, 4, 1.0), request(std::vector<int64_t>(64, 1), 1, 4, 1.0),
                                         request({1, 2}, 1, 4, -1.0)};
  reqs[2].sampling.top_p = 0.5;  // fine
  auto r = generate(lm, reqs, {});
  EXPECT_NE(r[0].error.find("prompt: is empty"), std::string::npos) << r[0].error;
  EXPECT_NE(r[1].error.find("token id 999"), std::string::npos) << r[1].error;
  EXPECT_TRUE(r[2].error.empty()) << r[2].error;
  EXPECT_EQ(r[2].completions.size(), 2u);
  EXPECT_NE(r[3].error.find("context"), std::string::npos) << r[3].error;
  EXPECT_NE(r[4].error.find("temperature"), std::string::npos) << r[4].error;
}
