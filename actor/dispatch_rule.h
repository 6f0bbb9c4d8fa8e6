// How the learner driver hands out work: the rule, as plain functions, so it is tested without
// sockets. Reproducibility rests on it: with the same live workers, a step's prompts are split
// the same way every run.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

namespace grpo::actor {

// A step's `prompts` (in prompt order) over `workers` live rollout workers (sorted by rank):
// contiguous chunks [from, to), as even as possible, one per worker while there are prompts
// (with one worker, one batch per step, as the synchronous loop generated it).
std::vector<std::pair<size_t, size_t>> split_step(size_t prompts, size_t workers);

// Until a worker is lost, rollouts wait for every rollout worker (up to the heartbeat timeout
// from the start): the split then depends on the recipe only, and a run is reproducible.
bool wait_for_all_rollout_workers(size_t live, size_t expected, long lost_so_far,
                                  std::chrono::steady_clock::duration since_start,
                                  std::chrono::milliseconds worker_timeout);

// The reward worker a generated group goes to: the least loaded of `loads` (groups in flight,
// by worker in rank order; the first wins a tie), or nullopt when every worker has `limit` in
// flight (back-pressure: the group waits).
std::optional<size_t> pick_reward_worker(const std::vector<size_t>& loads, size_t limit);

}  // namespace grpo::actor
