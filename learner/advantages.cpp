#include "learner/advantages.h"

#include <cmath>

#include "common/error.h"

namespace grpo::learner {

std::vector<double> group_advantages(const std::vector<std::optional<double>>& rewards,
                                     const AdvantageOptions& options) {
  std::vector<double> advantages(rewards.size(), 0.0);
  double sum = 0.0;
  size_t n = 0;
  for (const auto& r : rewards)
    if (r) {
      sum += *r;
      ++n;
    }
  if (n < 2) return advantages;
  const double mean = sum / static_cast<double>(n);
  switch (options.estimator) {
    case AdvantageEstimator::kMeanCentered:
      for (size_t i = 0; i < rewards.size(); ++i)
        if (rewards[i]) advantages[i] = *rewards[i] - mean;
      break;
    case AdvantageEstimator::kLeaveOneOut:
      // r_i - (sum - r_i)/(n - 1) = n/(n-1) * (r_i - mean)
      for (size_t i = 0; i < rewards.size(); ++i)
        if (rewards[i]) advantages[i] = *rewards[i] - (sum - *rewards[i]) / static_cast<double>(n - 1);
      break;
    case AdvantageEstimator::kGroupNorm: {
      double squares = 0.0;
      for (const auto& r : rewards)
        if (r) squares += (*r - mean) * (*r - mean);
      const double std_unbiased = std::sqrt(squares / static_cast<double>(n - 1));
      for (size_t i = 0; i < rewards.size(); ++i)
        if (rewards[i]) advantages[i] = (*rewards[i] - mean) / (std_unbiased + options.std_eps);
      break;
    }
  }
  return advantages;
}

bool group_has_no_signal(const std::vector<std::optional<double>>& rewards) {
  std::optional<double> first;
  size_t n = 0;
  for (const auto& r : rewards) {
    if (!r) continue;
    ++n;
    if (!first)
      first = r;
    else if (*r != *first)
      return false;
  }
  return true;  // all equal, or fewer than two scored (n <= 1)
}

double soft_overlong_penalty(long length, long max_len, long cache_len) {
  GRPO_CHECK(cache_len > 0 && cache_len <= max_len, "need 0 < cache_len <= max_len");
  const long expected = max_len - cache_len;
  if (length <= expected) return 0.0;
  if (length <= max_len) return static_cast<double>(expected - length) / static_cast<double>(cache_len);
  return -1.0;
}

AdvantageEstimator parse_advantage_estimator(const std::string& name) {
  if (name == "grpo") return AdvantageEstimator::kGroupNorm;
  if (name == "dr_grpo") return AdvantageEstimator::kMeanCentered;
  if (name == "rloo") return AdvantageEstimator::kLeaveOneOut;
  throw Error("unknown advantage estimator '" + name + "' (allowed: grpo, dr_grpo, rloo)");
}

std::string to_string(AdvantageEstimator estimator) {
  switch (estimator) {
    case AdvantageEstimator::kGroupNorm:
      return "grpo";
    case AdvantageEstimator::kMeanCentered:
      return "dr_grpo";
    case AdvantageEstimator::kLeaveOneOut:
      return "rloo";
  }
  return "?";
}

}  // namespace grpo::learner
