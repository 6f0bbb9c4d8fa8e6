// grpo train: run a recipe (cli/train_loop.h), validate it (--dry-run) or document its keys
// (--print-schema).
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/train_loop.h"
#include "learner/recipe.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo train RECIPE_DIR|recipe.json [--dry-run] [--resume RUN_DIR]\n"
    "       grpo train --print-schema\n"
    "\n"
    "Runs reinforcement learning as the recipe says and writes a run folder.\n"
    "--dry-run       check the recipe (every key, type and range) and print the resolved configuration\n"
    "--print-schema  print every recipe key with its type, default and range (Markdown)\n"
    "--resume DIR    continue the run folder DIR from its newest complete checkpoint (incomplete ones\n"
    "                are named and skipped); the recipe must be the run's (config.json in DIR)";

int run_train(const std::vector<std::string>& argv) {
  Args args("train", {{"--dry-run", false, ""}, {"--print-schema", false, ""}, {"--resume", true, ""}}, argv);
  if (args.has("--print-schema")) {
    std::printf("%s", learner::recipe_schema_markdown().c_str());
    return 0;
  }
  const std::string path = args.positional_at(0, "RECIPE_DIR or recipe.json");
  require_exists(path, "recipe");
  learner::Recipe recipe = learner::load_recipe(path);
  if (args.has("--dry-run")) {
    std::printf("%s\n", recipe.resolved().dump(2).c_str());
    std::fprintf(stderr, "grpo train: %s is valid\n", recipe.file.c_str());
    return 0;
  }
  TrainRunOptions options;
  if (args.has("--resume")) {
    options.resume_dir = args.get("--resume", "");
    require_exists(options.resume_dir, "run folder to resume");
  }
  if (recipe.get<std::string>("runtime", "mode") != "threads" || recipe.get<long>("runtime", "max_staleness") != 0)
    throw UsageError(recipe.file + ": runtime: only mode \"threads\" with max_staleness 0 is built so far");
  std::fprintf(stderr, "grpo train: %s\n%s\n", recipe.file.c_str(), recipe.resolved().dump(2).c_str());
  const std::string run_dir = run_training(recipe, options);
  std::fprintf(stderr, "grpo train: done; run folder %s (metrics.jsonl, tb/, checkpoints/)\n", run_dir.c_str());
  return 0;
}

}  // namespace

GRPO_COMMAND("train", "run a GRPO recipe (rollouts, rewards, updates)", kUsage, run_train, 10);

}  // namespace grpo::cli
