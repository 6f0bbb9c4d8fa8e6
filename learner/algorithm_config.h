// The recipe's "algorithm" section: a named preset (grpo, dr_grpo, dapo, gspo) sets every knob,
// and any key given explicitly overrides the preset. Unknown keys and wrong types are errors
// that name the key and the allowed values.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "learner/advantages.h"
#include "learner/policy_loss.h"

namespace grpo::learner {

struct AlgorithmConfig {
  std::string preset = "grpo";
  AdvantageOptions advantages;
  PolicyLossConfig loss;
  bool drop_equal_groups = false;  // DAPO dynamic sampling: skip groups whose rewards are all equal
  // DAPO's batch refill: after dropping, sample up to this many more rounds of prompts for the
  // same step until rollout.prompts_per_step groups carry signal (0 = train on what is left).
  long refill_rounds = 0;
  bool mask_truncated = false;  // DAPO overlong filtering: truncated samples carry no loss
  long overlong_cache = 0;      // > 0: DAPO soft overlong penalty over the last N tokens of the budget
};

// The preset's values. Throws grpo::Error for an unknown name.
AlgorithmConfig algorithm_preset(const std::string& name);

// Parses the "algorithm" object of `file` (used in messages). `max_new_tokens` is the default C
// for Dr. GRPO's constant normaliser.
AlgorithmConfig parse_algorithm_config(const nlohmann::json& section, const std::string& file, long max_new_tokens);

// The resolved values, every key present (printed at start and saved in the run folder).
nlohmann::json to_json(const AlgorithmConfig& config);

}  // namespace grpo::learner
