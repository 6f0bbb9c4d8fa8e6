// The synchronous training loop behind `grpo train` (runtime.mode = "threads", max_staleness 0):
// each step samples G completions for a batch of prompts with the current policy, scores them
// with the recipe's reward script, and applies one GRPO-family update. Every trajectory is
// on-policy. The actor runtime (ZeroMQ stages, weight publication, asynchronous mode) replaces
// the direct calls here without changing what a step computes.
#pragma once

#include <string>

#include "learner/recipe.h"

namespace grpo::cli {

struct TrainRunOptions {
  bool quiet = false;      // no progress lines (tests)
  std::string resume_dir;  // a run folder to continue from its newest complete checkpoint; empty: a new run
};

// Runs the recipe; writes the run folder (config.json, metrics.jsonl, tb/, trajectories.wal,
// checkpoints/step-N/ with trainer_state/). Returns the run folder.
//
// Resuming restores the weights, the AdamW state, the RNGs, the data order and cursor, and the
// KL reference from the newest complete checkpoint (learner/checkpoint_dir.h; incomplete ones
// are named and skipped), cuts metrics.jsonl and trajectories.wal back to that step, and goes on:
// on CPU with fixed threads the result is bit-identical to a run that was never interrupted.
//
// Test hook: with GRPO_TEST_KILL_AT_STEP=S in the environment the process kills itself (SIGKILL)
// in step S, after that step's rollouts are in the write-ahead log and before its update — a
// crash at a reproducible point for the resume tests.
std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& options);

}  // namespace grpo::cli
