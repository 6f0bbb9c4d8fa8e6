// Group-relative advantages: the baseline each GRPO-family method subtracts from a sample's
// reward, computed within the group of G completions of one prompt.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace grpo::learner {

enum class AdvantageEstimator {
  kGroupNorm,     // GRPO: (r - mean) / (std + eps), DeepSeekMath
  kMeanCentered,  // Dr. GRPO: r - mean, no std (removes the difficulty bias)
  kLeaveOneOut,   // RLOO: r_i - mean of the other members
};

struct AdvantageOptions {
  AdvantageEstimator estimator = AdvantageEstimator::kGroupNorm;
  // Added to the std; Dr. GRPO's code uses 1e-8 with torch's unbiased std. We use the same
  // unbiased std (divide by n - 1) so numbers match the common implementations.
  double std_eps = 1e-6;
};

// Advantages for one group. A reward of nullopt means "not applicable" (the reward script
// returned nil): that sample is left out of the baseline and gets advantage 0 (it is also
// masked out of the loss by the caller). Groups with fewer than two scored samples get 0s.
std::vector<double> group_advantages(const std::vector<std::optional<double>>& rewards,
                                     const AdvantageOptions& options);

// True when every scored reward of the group is equal (or fewer than two are scored): such a
// group has zero advantage everywhere and carries no learning signal (DAPO dynamic sampling).
bool group_has_no_signal(const std::vector<std::optional<double>>& rewards);

// DAPO's soft overlong punishment (DAPO eq. 13), added to the reward:
//   0 if len <= max_len - cache_len; linear down to -1 at len = max_len; -1 beyond.
double soft_overlong_penalty(long length, long max_len, long cache_len);

AdvantageEstimator parse_advantage_estimator(const std::string& name);  // "grpo" | "dr_grpo" | "rloo"
std::string to_string(AdvantageEstimator estimator);

}  // namespace grpo::learner
