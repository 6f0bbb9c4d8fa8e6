#include "learner/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace grpo::learner {

double learning_rate(const LrSchedule& s, long step) {
  GRPO_CHECK(step >= 0, "step must be >= 0");
  if (step < s.warmup_steps) return s.peak_lr * static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  if (s.kind == "constant") return s.peak_lr;
  if (s.kind == "cosine") {
    const double span = std::max<long>(s.total_steps - s.warmup_steps, 1);
    const double progress = std::min(1.0, static_cast<double>(step - s.warmup_steps) / span);
    const double floor = s.peak_lr * s.min_lr_ratio;
    return floor + (s.peak_lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  throw Error("unknown learning-rate schedule '" + s.kind + "' (allowed: constant, cosine)");
}

}  // namespace grpo::learner
