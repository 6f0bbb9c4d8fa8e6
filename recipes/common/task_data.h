// The data a recipe's task family generates: RL training prompts, held-out eval prompts and the
// SFT traces that make the base policy. Pure functions of the recipe's `task` section, so
// `grpo run`, `grpo eval` and `grpo data` produce the same sets on every machine.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grpo::recipes {

struct TaskSpec {
  std::string family;  // "math" | "code"
  uint64_t seed = 1;
  size_t train_prompts = 0, eval_prompts = 0, sft_examples = 0;
  int min_difficulty = 1, max_difficulty = 4;
  int max_value = 20;
  int max_result = 400;
  double shortcut_fraction = 0;  // SFT traces that state an answer without working it out
  double flawed_fraction = 0;    // SFT traces with one mistake
  double drill_fraction = 0;     // SFT examples that are arithmetic practice sheets (math only)
};

// Reads a resolved recipe's `task` section (learner/recipe.cpp documents the keys).
TaskSpec task_spec_from_json(const nlohmann::json& task_section);

struct SftExample {
  std::string prompt;
  std::string completion;
  std::string kind;  // "correct" | "shortcut" | "flawed" | "drill": what the example is
};

struct TaskData {
  std::vector<nlohmann::json> train;  // rows with `prompt`, `id`, `difficulty` and what the reward reads
  std::vector<nlohmann::json> eval;   // the same shape, disjoint seeds
  std::vector<SftExample> sft;
};

// Throws grpo::Error for an unknown family.
TaskData make_task_data(const TaskSpec& spec);

// The three sets as JSONL files in `dir` (train.jsonl, eval.jsonl, sft.jsonl), written atomically.
void write_task_data(const TaskData& data, const std::string& dir);

}  // namespace grpo::recipes
