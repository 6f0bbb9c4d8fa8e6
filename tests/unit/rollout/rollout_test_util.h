// Shared by the rollout tests: a micro model, the greedy reference through the full forward, and
// teacher-forced behaviour log-probs.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "../model/model_test_util.h"
#include "rollout/generator.h"

namespace grpo::rollout::rtest {

inline model::CausalLM micro(uint64_t seed) {
  return model::mtest::random_model(model::mtest::micro_config(), seed, torch::kFloat32);
}

// Greedy continuation by re-running the full (training-path) forward on the growing sequence.
inline std::vector<int64_t> greedy_reference(model::CausalLM& lm, std::vector<int64_t> seq, int64_t n) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    auto logits = lm->forward(torch::tensor(seq).unsqueeze(0)).logits[0][static_cast<int64_t>(seq.size()) - 1];
    out.push_back(logits.argmax().item<int64_t>());
    seq.push_back(out.back());
  }
  return out;
}

// log softmax(logits/T) of each completion token under a full forward of prompt + completion.
inline std::vector<float> teacher_forced_logprobs(model::CausalLM& lm, const std::vector<int64_t>& prompt,
                                                  const std::vector<int64_t>& completion, double temperature) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> seq = prompt;
  seq.insert(seq.end(), completion.begin(), completion.end());
  auto logits = lm->forward(torch::tensor(seq).unsqueeze(0)).logits[0];  // [S, V]
  const auto p = static_cast<int64_t>(prompt.size());
  auto rows = logits.slice(0, p - 1, static_cast<int64_t>(seq.size()) - 1);
  auto lp = behaviour_logprobs(rows, torch::tensor(completion), temperature);
  return std::vector<float>(lp.data_ptr<float>(), lp.data_ptr<float>() + lp.numel());
}

inline GenerationRequest request(std::vector<int64_t> prompt, int64_t g, int64_t n, double temperature,
                                 uint64_t seed = 7) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.group_size = g;
  r.max_new_tokens = n;
  r.sampling.temperature = temperature;
  r.sampling.seed = seed;
  return r;
}

// Upper 0.1% point of χ²(df) by the Wilson–Hilferty cube approximation (z_0.999 = 3.0902); within
// ~1% of the exact quantile for df >= 3.
inline double chi2_critical_001(double df) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + 3.0902 * std::sqrt(a), 3.0);
}

}  // namespace grpo::rollout::rtest
