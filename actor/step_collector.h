// What one training step trains on, gathered from the actor runtime: the step's scored groups,
// each logged to the write-ahead log before the step may use it, and DAPO's batch refill
// (algorithm.refill_rounds, synchronous runs): while fewer than prompts_per_step groups carry
// signal, sample that many more prompts for this step from the current weights. Each refill round
// is its own batch in the runtime (refill_batch_id); its draws move the data position of this
// step, so a checkpoint and --resume see them.
//
// The runtime is reached through StepSource only, so the rule is tested without sockets.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "actor/learner_driver.h"
#include "actor/trajectory_log.h"
#include "learner/algorithm_config.h"
#include "learner/grpo_step.h"

namespace grpo::actor {

// The runtime as the collector sees it: LearnerDriver's submit / wait_step and the prompt
// sampler's draw in a run, fakes in tests.
struct StepSource {
  std::function<void(long batch_id, std::vector<SlotPrompt> prompts)> submit;
  std::function<StepRollouts(long batch_id)> wait;
  std::function<std::vector<SlotPrompt>(long step, size_t count, long round)> draw;
};

struct CollectOptions {
  learner::AlgorithmConfig algorithm;  // refill_rounds and the group filter
  long max_new_tokens = 0;             // for the filter's overlong rule
  size_t step_prompts = 0;             // groups with signal a refill aims for
};

struct CollectedStep {
  std::vector<learner::ScoredPromptGroup> groups;  // in the order they were logged
  // The runtime's counts summed over the step's batches and its gauges from the first batch
  // (learner_driver.h), reward/failures, reward/<metric> means over samples, and with refills on
  // refill/rounds and refill/prompts.
  std::map<std::string, double> metrics;
  double rollout_tokens = 0;  // completion tokens sampled for the step
};

// The runtime batch id of refill round `round` (1..63) of `step`: apart from every step number,
// so the prompt ledger and the runtime's timings keep treating batch id = step for the step's
// own prompts.
long refill_batch_id(long step, long round);

// Waits for `step` (already submitted), then refills as the algorithm says. Groups without
// completions (a prompt the rollout worker could not generate for) are skipped with a message.
CollectedStep collect_step(long step, const StepSource& source, const CollectOptions& options,
                           TrajectoryLog& trajectories);

}  // namespace grpo::actor
