// run_training (actor/train_loop.h) in threads mode on a tiny model: the asynchronous mode's
// refusal of stale groups, reached through the one test hook the runtime has, a TrainRunOptions
// field (no environment variable changes what the shipped program does).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "actor/train_loop.h"
#include "common/atomic_file.h"
#include "common/jsonl.h"
#include "learner/checkpoint_dir.h"  // remove_tree: std::filesystem::remove_all crashes with LibTorch linked
#include "learner/recipe.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace grpo::actor {
namespace {

namespace fs = std::filesystem;

// A random tiny checkpoint, 8 token prompts and tests/data/low_id_reward.lua (what
// tests/e2e/lib.sh's tiny_setup makes), in a fresh folder.
std::string tiny_run_folder(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("grpo_train_" + name + "_" + std::to_string(::getpid()));
  grpo::learner::remove_tree(fs::path(dir).string());
  fs::create_directories(dir);
  model::CausalLM lm(model::load_config(std::string(GRPO_SOURCE_DIR) + "/model/configs/tiny_direct_q.json"));
  model::init_weights(lm, 2);
  model::save_checkpoint(lm, (dir / "base").string());
  std::ofstream prompts(dir / "train.jsonl");
  for (int i = 0; i < 8; ++i) prompts << "{\"tokens\": [0, " << 10 + i << ", " << 20 + i << "]}\n";
  std::ofstream(dir / "reward.lua") << read_file(std::string(GRPO_SOURCE_DIR) + "/tests/data/low_id_reward.lua");
  return dir.string();
}

TEST(TrainLoop, GroupsOlderThanMaxStalenessAreRefusedAndSampledAgain) {
  const std::string dir = tiny_run_folder("stale");
  std::ofstream(dir + "/recipe.json") << R"({
    "name": "stale",
    "model": { "init": "base" },
    "data": { "train": "train.jsonl" },
    "reward": { "script": "reward.lua", "workers": 1 },
    "rollout": { "group_size": 2, "prompts_per_step": 4, "max_new_tokens": 4 },
    "algorithm": { "preset": "grpo", "tis_cap": 2.0 },
    "optim": { "lr": 1e-3 },
    "train": { "steps": 5, "run_dir": "run", "seed": 3 },
    "runtime": { "rollout_workers": 1, "reward_workers": 1, "max_staleness": 1, "threads": 1 } })";
  const learner::Recipe recipe = learner::load_recipe(dir + "/recipe.json");
  TrainRunOptions options;
  options.quiet = true;
  // One step further ahead than max_staleness allows: those groups are a version too old when
  // their step trains.
  options.submit_extra_for_testing = 1;
  const std::string run = run_training(recipe, options);
  double stale = 0, dispatched = 0;
  long steps = 0;
  for (const auto& line : read_jsonl(run + "/metrics.jsonl")) {
    ++steps;
    EXPECT_EQ(line.value.at("prompts/scored").get<double>(), 4.0) << "step " << steps;  // every prompt, once
    stale += line.value.at("prompts/stale").get<double>();
    dispatched += line.value.at("prompts/dispatched").get<double>();
  }
  EXPECT_EQ(steps, 5);
  EXPECT_GE(stale, 4.0) << "no group was refused as too old";
  EXPECT_GE(dispatched, 5 * 4 + 4) << "refused groups were not sampled again";
  EXPECT_TRUE(fs::exists(run + "/checkpoints/step-5/model.safetensors"));
  grpo::learner::remove_tree(fs::path(dir).string());
}

}  // namespace
}  // namespace grpo::actor
