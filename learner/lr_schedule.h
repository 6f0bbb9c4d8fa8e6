// Learning rate at a step: linear warm-up from 0, then constant or cosine decay to a floor.
#pragma once

#include <string>

namespace grpo::learner {

struct LrSchedule {
  double peak_lr = 1e-5;
  long warmup_steps = 0;
  std::string kind = "constant";  // "constant" | "cosine"
  long total_steps = 1;           // cosine reaches the floor here
  double min_lr_ratio = 0.1;      // cosine floor = peak_lr × min_lr_ratio
};

// `step` counts optimizer steps from 0. During warm-up: peak·(step+1)/warmup, so the first step
// already moves (a zero first step would waste a rollout batch).
double learning_rate(const LrSchedule& schedule, long step);

}  // namespace grpo::learner
