// Subcommands whose implementation has not landed yet. Each moves to its own cmd_<name>.cpp
// when it is built; until then `grpo NAME` says so and exits 2, and `--help` shows the plan.
#include "cli/command.h"

GRPO_COMMAND("eval", "pass@1 / mean@K / pass@K of a checkpoint on a recipe's held-out set",
             "usage: grpo eval CKPT --recipe DIR [--samples K]", nullptr, 50);
GRPO_COMMAND("convert", "convert a checkpoint between FP8 and BF16",
             "usage: grpo convert --to fp8|bf16 IN_DIR OUT_DIR", nullptr, 80);
GRPO_COMMAND("worker", "run one actor of a multi-process or multi-host run",
             "usage: grpo worker --role rollout|reward|learner --connect ADDRESS", nullptr, 90);
