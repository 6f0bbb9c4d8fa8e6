// grpo run: a recipe end to end — generated data, tokenizer, SFT base, evaluation, GRPO,
// evaluation, report (actor/recipe_pipeline.h).
#include <cstdio>

#include "actor/recipe_pipeline.h"
#include "cli/args.h"
#include "cli/command.h"
#include "learner/recipe.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo run RECIPE_DIR|recipe.json [--run-dir DIR] [--steps N] [--quiet] [--no-eval]\n"
    "\n"
    "Runs every stage of a recipe in one process and one run folder: the task's data, a tokenizer\n"
    "and an SFT base policy when the recipe builds its own, held-out evaluation, GRPO training,\n"
    "evaluation again, and report.html. A finished SFT base with unchanged inputs is reused.\n"
    "--run-dir DIR  overrides train.run_dir      --steps N  overrides train.steps\n"
    "--no-eval      skip both evaluations         --quiet   only the final summary";

int run_run(const std::vector<std::string>& argv) {
  Args args("run", {{"--run-dir", true, ""}, {"--steps", true, ""}, {"--quiet", false, ""}, {"--no-eval", false, ""}},
            argv);
  const std::string path = args.positional_at(0, "RECIPE_DIR or recipe.json");
  require_exists(path, "recipe");
  learner::Recipe recipe = learner::load_recipe(path);
  if (args.has("--run-dir")) recipe.values["train"]["run_dir"] = args.get("--run-dir", "");
  if (args.has("--steps")) {
    const long long steps = args.get_int("--steps", 1);
    if (steps < 1) throw UsageError("--steps must be >= 1");
    recipe.values["train"]["steps"] = steps;
  }
  actor::PipelineOptions options;
  options.quiet = args.has("--quiet");
  options.skip_eval = args.has("--no-eval");
  const auto result = actor::run_recipe_pipeline(recipe, options);
  std::printf("%s\n", result.run_dir.c_str());
  return 0;
}

}  // namespace

GRPO_COMMAND("run", "run a recipe end to end (data, SFT base, eval, GRPO, eval, report)", kUsage, run_run, 5);

}  // namespace grpo::cli
