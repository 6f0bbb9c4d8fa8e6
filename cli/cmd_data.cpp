// grpo data: writes the train / eval prompts and SFT traces a recipe's task family generates,
// to look at them or to use them elsewhere (grpo run generates them itself).
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/command.h"
#include "learner/recipe.h"
#include "recipes/common/task_data.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo data RECIPE_DIR|recipe.json --out DIR\n"
    "\n"
    "Writes DIR/train.jsonl, DIR/eval.jsonl and DIR/sft.jsonl from the recipe's task section\n"
    "(seeded: the same files on every machine).";

int run_data(const std::vector<std::string>& argv) {
  Args args("data", {{"--out", true, ""}}, argv);
  const std::string path = args.positional_at(0, "RECIPE_DIR or recipe.json");
  require_exists(path, "recipe");
  const learner::Recipe recipe = learner::load_recipe(path);
  if (recipe.values["task"]["family"].get<std::string>().empty())
    throw file_error(recipe.file, "task.family", "is empty: this recipe generates no data");
  const std::string out = args.require("--out");
  std::filesystem::create_directories(out);
  const auto data = recipes::make_task_data(recipes::task_spec_from_json(recipe.values["task"]));
  recipes::write_task_data(data, out);
  size_t shortcut = 0, flawed = 0;
  for (const auto& e : data.sft) shortcut += e.kind == "shortcut", flawed += e.kind == "flawed";
  std::printf("wrote %s: %zu train, %zu eval prompts; %zu SFT traces (%zu shortcut, %zu flawed)\n", out.c_str(),
              data.train.size(), data.eval.size(), data.sft.size(), shortcut, flawed);
  return 0;
}

}  // namespace

GRPO_COMMAND("data", "write the prompts and SFT traces a recipe's task family generates", kUsage, run_data, 6);

}  // namespace grpo::cli
