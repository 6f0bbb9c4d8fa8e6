// Subcommands whose implementation has not landed yet. Each moves to its own cmd_<name>.cpp
// when it is built; until then `grpo NAME` says so and exits 2, and `--help` shows the plan.
#include "cli/command.h"

GRPO_COMMAND("worker", "run one actor of a multi-process or multi-host run",
             "usage: grpo worker --role rollout|reward|learner --connect ADDRESS", nullptr, 90);
