// grpo_ref metrics-write RUN_DIR: three steps of two scalars, for test_metrics_tensorboard.py.
#include "learner/metrics_log.h"
#include "ref_tool.h"

namespace {
int metrics_write(const std::vector<std::string>& args) {
  if (args.size() != 1) return 2;
  grpo::learner::MetricsLog log(args[0], /*resume=*/false);
  for (int step = 1; step <= 3; ++step) log.log(step, {{"reward/mean", 0.25 * step}, {"loss", 2.5 - 0.5 * step}});
  return 0;
}
}  // namespace

GRPO_REF_TOOL("metrics-write", metrics_write);
