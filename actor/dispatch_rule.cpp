#include "actor/dispatch_rule.h"

#include <algorithm>

namespace grpo::actor {

std::vector<std::pair<size_t, size_t>> split_step(size_t prompts, size_t workers) {
  std::vector<std::pair<size_t, size_t>> out;
  const size_t parts = std::min(prompts, workers);
  for (size_t p = 0; p < parts; ++p) out.emplace_back(prompts * p / parts, prompts * (p + 1) / parts);
  return out;
}

bool wait_for_all_rollout_workers(size_t live, size_t expected, long lost_so_far,
                                  std::chrono::steady_clock::duration since_start,
                                  std::chrono::milliseconds worker_timeout) {
  return live < expected && lost_so_far == 0 && since_start < worker_timeout;
}

std::optional<size_t> pick_reward_worker(const std::vector<size_t>& loads, size_t limit) {
  std::optional<size_t> best;
  size_t best_load = limit;
  for (size_t i = 0; i < loads.size(); ++i)
    if (loads[i] < best_load) best = i, best_load = loads[i];
  return best;
}

}  // namespace grpo::actor
