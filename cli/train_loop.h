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
  bool quiet = false;  // no progress lines (tests)
};

// Runs the recipe; writes the run folder (config.json, metrics.jsonl, tb/, checkpoints/).
// Returns the run folder.
std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& options);

}  // namespace grpo::cli
