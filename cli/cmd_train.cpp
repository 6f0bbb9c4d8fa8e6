// grpo train: run a recipe (actor/train_loop.h), validate it (--dry-run) or document its keys
// (--print-schema).
#include <cstdio>
#include <cstdlib>

#include "actor/launch/launch_env.h"
#include "actor/train_loop.h"
#include "actor/worker_session.h"
#include "cli/args.h"
#include "cli/command.h"
#include "learner/recipe.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo train RECIPE_DIR|recipe.json [--dry-run] [--resume RUN_DIR] [--processes]\n"
    "       grpo train --print-schema\n"
    "\n"
    "Runs reinforcement learning as the recipe says and writes a run folder.\n"
    "--dry-run       check the recipe (every key, type and range) and print the resolved configuration\n"
    "--print-schema  print every recipe key with its type, default and range (Markdown)\n"
    "--resume DIR    continue the run folder DIR from its newest complete checkpoint (incomplete ones\n"
    "                are named and skipped); the recipe must be the run's (config.json in DIR)\n"
    "--processes     one process per rollout and reward worker (`grpo worker`), as runtime.mode \"processes\"\n"
    "\n"
    "Under a launcher (torchrun, srun, mpirun: WORLD_SIZE/SLURM_NTASKS/... > 1) every rank runs this\n"
    "command: rank 0 is the learner and listens on runtime.interface at MASTER_PORT, ranks 1..R are\n"
    "the rollout workers and the rest the reward workers (world size = 1 + R + W). Set the same\n"
    "GRPO_RUN_TOKEN on every rank; the learner refuses workers with another one.";

int run_train(const std::vector<std::string>& argv) {
  Args args(
      "train",
      {{"--dry-run", false, ""}, {"--print-schema", false, ""}, {"--resume", true, ""}, {"--processes", false, ""}},
      argv);
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
  actor::TrainRunOptions options;
  if (args.has("--resume")) {
    options.resume_dir = args.get("--resume", "");
    require_exists(options.resume_dir, "run folder to resume");
  }
  if (args.has("--processes") || recipe.get<std::string>("runtime", "mode") == "processes")
    options.driver.mode = actor::WorkerMode::kProcesses;
  // A launcher's rank (runtime.md §5): rank 0 learns, the others serve.
  const actor::LaunchEnv launch = actor::detect_launch_env(actor::process_env());
  if (launch.world_size > 1) {
    const long rollout = recipe.get<long>("runtime", "rollout_workers"),
               reward = recipe.get<long>("runtime", "reward_workers");
    if (launch.world_size != 1 + rollout + reward)
      throw UsageError(recipe.file + ": runtime: the launcher started " + std::to_string(launch.world_size) +
                       " ranks, but 1 learner + rollout_workers " + std::to_string(rollout) + " + reward_workers " +
                       std::to_string(reward) + " = " + std::to_string(1 + rollout + reward));
    if (!launch.master_known)
      throw UsageError(launch.launcher +
                       " does not say where rank 0 is: set MASTER_ADDR and MASTER_PORT on every rank");
    if (launch.rank > 0) {
      actor::WorkerSpec spec;
      spec.role = launch.rank <= rollout ? "rollout" : "reward";
      spec.rank = launch.rank <= rollout ? launch.rank - 1 : static_cast<int>(launch.rank - 1 - rollout);
      spec.hub = "tcp://" + launch.master_addr + ":" + std::to_string(launch.master_port);
      const char* token = std::getenv("GRPO_RUN_TOKEN");
      spec.token = token ? token : "";
      if (const auto key = recipe.get<std::string>("runtime", "curve_key_file"); !key.empty())
        spec.curve = actor::load_curve_key_file(key);
      std::fprintf(stderr, "grpo train: rank %d of %d (%s): %s worker %d, learner at %s\n", launch.rank,
                   launch.world_size, launch.launcher.c_str(), spec.role.c_str(), spec.rank, spec.hub.c_str());
      return actor::run_worker(spec);
    }
    options.driver.mode = actor::WorkerMode::kExternal;
    options.driver.bind_host = recipe.get<std::string>("runtime", "interface");
    options.driver.advertise_host = launch.master_addr;
    options.driver.port = launch.master_port;
  }
  std::fprintf(stderr, "grpo train: %s\n%s\n", recipe.file.c_str(), recipe.resolved().dump(2).c_str());
  const std::string run_dir = actor::run_training(recipe, options);
  std::fprintf(stderr, "grpo train: done; run folder %s (metrics.jsonl, tb/, checkpoints/)\n", run_dir.c_str());
  return 0;
}

}  // namespace

GRPO_COMMAND("train", "run a GRPO recipe (rollouts, rewards, updates)", kUsage, run_train, 10);

}  // namespace grpo::cli
