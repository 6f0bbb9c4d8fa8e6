// The training loop behind `grpo train`: each step hands a batch of prompts to the actor runtime
// (actor/learner_driver.h: rollout workers sample G completions each with the newest published
// weights, reward workers score them), logs the scored groups in the write-ahead log, applies one
// GRPO-family update and publishes the new weights. With runtime.max_staleness 0 every trajectory
// is on-policy (synchronous); with N > 0 up to N later steps are sampled while a step trains, and
// groups older than N versions are sampled again (the loss's tis_cap corrects the rest).
#pragma once

#include <string>

#include "actor/learner_driver.h"
#include "learner/recipe.h"

namespace grpo::actor {

struct TrainRunOptions {
  bool quiet = false;      // no progress lines (tests)
  std::string resume_dir;  // a run folder to continue from its newest complete checkpoint; empty: a new run
  DriverSetup driver;      // where the workers come from (mode, and for launcher ranks the address)
  // Tests only: submit this many steps further ahead than runtime.max_staleness allows, so their
  // groups arrive too old and the asynchronous mode's refusal of stale groups is exercised.
  long submit_extra_for_testing = 0;
};

// Runs the recipe; writes the run folder (config.json, metrics.jsonl, tb/, trajectories.wal,
// checkpoints/step-N/ with trainer_state/). Returns the run folder.
//
// Resuming restores the weights, the AdamW state, the RNGs, the data order and cursor, and the
// KL reference from the newest complete checkpoint (learner/checkpoint_dir.h; incomplete ones
// are named and skipped), cuts metrics.jsonl and trajectories.wal back to that step, and goes on:
// on CPU with fixed threads the result is bit-identical to a run that was never interrupted.
//
std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& options);

}  // namespace grpo::actor
