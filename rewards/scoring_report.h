// What `grpo reward` prints: one line per sample (score, status, metrics, the failure with its
// traceback) and a summary (mean, statuses, time per sample, the script's SHA-256), as aligned
// text or as JSON lines.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

#include "rewards/scorer.h"

namespace grpo::rewards {

struct ScoringRun {
  std::string script;
  int workers = 1;
  double wall_seconds = 0;
  long long workers_killed = 0;
};

void print_scored_batch(std::FILE* out, const ScoredBatch& batch, const ScoringRun& run, bool as_json);

}  // namespace grpo::rewards
