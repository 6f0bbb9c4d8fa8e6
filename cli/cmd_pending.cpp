// Subcommands whose implementation has not landed yet. Each moves to its own cmd_<name>.cpp
// when it is built; until then `grpo NAME` says so and exits 2, and `--help` shows the plan.
#include "cli/command.h"
// (none at the moment: `grpo worker` is cli/cmd_worker.cpp)
