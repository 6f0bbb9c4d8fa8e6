// Held-out evaluation of a checkpoint with a recipe's reward script: pass@1 (greedy), mean@K and
// pass@K (K samples at the eval temperature), per difficulty level and overall.
//
// A sample counts as solved when the script reports a `correct` metric of 1 (math: the boxed
// answer is right; code: every hidden test passes) or, for scripts without that metric, when its
// score is positive. pass@K here is "any of the K samples solved it" (the unbiased estimator with
// n = K).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "actor/prompt_rows.h"
#include "model/causal_lm.h"
#include "model/tokenizer.h"
#include "rewards/scorer.h"

namespace grpo::actor {

struct EvalOptions {
  int64_t samples = 8;       // K
  double temperature = 1.0;  // for the K samples
  int64_t max_new_tokens = 256;
  std::vector<std::string> stop;
  uint64_t seed = 1;
};

struct EvalLevel {
  std::string level;  // "1", "2", ... or "all"
  size_t prompts = 0;
  double pass_at_1 = 0;  // greedy
  double mean_at_k = 0;
  double pass_at_k = 0;
  double mean_length = 0;  // tokens of the greedy completions
};

struct EvalReport {
  int64_t k = 0;
  std::vector<EvalLevel> levels;  // sorted by level, "all" last
  nlohmann::json examples;        // the first few greedy completions with their scores

  const EvalLevel& overall() const { return levels.back(); }
  nlohmann::json to_json() const;
  std::string table() const;  // aligned text table for the terminal
};

EvalReport evaluate(model::CausalLM& lm, const Tokenizer* tokenizer, const std::vector<PromptRow>& prompts,
                    rewards::Scorer& scorer, const EvalOptions& options);

}  // namespace grpo::actor
