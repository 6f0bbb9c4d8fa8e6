// grpo eval: pass@1 (greedy), mean@K and pass@K of a checkpoint on a recipe's held-out set,
// per difficulty level (actor/evaluate.h).
#include <cstdio>
#include <filesystem>
#include <optional>

#include "actor/evaluate.h"
#include "actor/recipe_scorer.h"
#include "cli/args.h"
#include "cli/command.h"
#include "common/atomic_file.h"
#include "learner/recipe.h"
#include "model/checkpoint.h"
#include "recipes/common/task_data.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo eval CKPT --recipe RECIPE_DIR|recipe.json [--samples K] [--temperature T] [--json OUT]\n"
    "\n"
    "Evaluates the checkpoint on the recipe's held-out prompts (data.eval, or the eval set its task\n"
    "family generates) with the recipe's reward script. Prints pass@1 (greedy), mean@K and pass@K per\n"
    "difficulty level; --json also writes them to OUT. Defaults come from the recipe's eval section.";

int run_eval_command(const std::vector<std::string>& argv) {
  Args args("eval",
            {{"--recipe", true, ""}, {"--samples", true, ""}, {"--temperature", true, ""}, {"--json", true, ""}}, argv);
  const std::string ckpt = args.positional_at(0, "checkpoint folder");
  require_exists(ckpt, "checkpoint");
  const std::string recipe_path = args.require("--recipe");
  require_exists(recipe_path, "recipe");
  const learner::Recipe recipe = learner::load_recipe(recipe_path);
  const auto& v = recipe.values;
  actor::EvalOptions eo;
  eo.samples = args.get_int("--samples", v["eval"]["samples"].get<long>());
  eo.temperature = args.get_double("--temperature", v["eval"]["temperature"].get<double>());
  if (eo.samples < 1) throw UsageError("--samples must be >= 1");
  if (!(eo.temperature > 0)) throw UsageError("--temperature must be > 0 (pass@1 is already greedy)");
  eo.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
  eo.stop = v["rollout"]["stop"].get<std::vector<std::string>>();
  eo.seed = v["train"]["seed"].get<uint64_t>();

  // Forked before LibTorch starts threads.
  rewards::Scorer scorer(v["reward"]["script"].get<std::string>(), actor::scorer_options_from_recipe(recipe));

  const std::string eval_path = v["data"]["eval"].get<std::string>();
  auto lm = model::load_checkpoint(ckpt);
  std::optional<Tokenizer> tokenizer;
  if (std::filesystem::exists(ckpt + "/tokenizer.json")) tokenizer = Tokenizer::from_file(ckpt + "/tokenizer.json");
  const std::string hint = "tokenizer.json in " + ckpt;
  std::vector<actor::PromptRow> prompts;
  if (!eval_path.empty()) {
    prompts = actor::read_prompt_rows(eval_path, tokenizer ? &*tokenizer : nullptr, lm->config.bos_token_id, hint);
  } else {
    if (v["task"]["family"].get<std::string>().empty())
      throw file_error(recipe.file, "data.eval", "is empty and no task.family generates an eval set");
    // The train and SFT sets are generated too: the held-out set skips their prompts, so without
    // them it would not be the set `grpo run` evaluates.
    const auto data = recipes::make_task_data(recipes::task_spec_from_json(v["task"]));
    prompts = actor::prompt_rows_from_json(data.eval, recipe.file + " task (held-out set)",
                                           tokenizer ? &*tokenizer : nullptr, lm->config.bos_token_id, hint);
  }
  const actor::EvalReport report = actor::evaluate(lm, tokenizer ? &*tokenizer : nullptr, prompts, scorer, eo);
  std::printf("%s", report.table().c_str());
  if (args.has("--json")) write_file_atomic(args.get("--json", ""), report.to_json().dump(2) + "\n");
  return 0;
}

}  // namespace

GRPO_COMMAND("eval", "pass@1 / mean@K / pass@K of a checkpoint on a recipe's held-out set", kUsage, run_eval_command,
             50);

}  // namespace grpo::cli
