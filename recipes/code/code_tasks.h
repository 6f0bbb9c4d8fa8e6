// Synthetic coding tasks for the code recipe: write a small Lua function `f` (arithmetic,
// conditionals, list and string manipulation), checked by hidden unit tests that
// reward.lua runs through grpo.run_lua. Seeded and deterministic, like the math tasks.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grpo::recipes {

struct CodeTask {
  std::string id;                  // "code-<seed>-<index>"
  std::string prompt;              // the request, with one worked example f(a) = b
  std::vector<std::string> tests;  // hidden: Lua chunks, e.g. "return f(4) == 11"; never the prompt's example
  int difficulty = 1;              // 1 arithmetic, 2 conditionals, 3 lists, 4 strings
  std::string solution;            // a correct completion: <think>plan</think> then a ```lua block
};

struct CodeTaskOptions {
  uint64_t seed = 1;
  int min_difficulty = 1;
  int max_difficulty = 4;
};

CodeTask make_code_task(const CodeTaskOptions& options, uint64_t index);

// A completion that hard-codes the prompt's example instead of solving the task: it passes the
// first test only. The SFT data mixes some in so the base is unreliable and RL has work to do.
std::string shortcut_code_solution(const CodeTask& task);

// A completion with one bug (a constant off by one, or `>` written `>=`); most such bugs fail a
// hidden test, a few are harmless (`>=` in "the larger of x and k").
std::string flawed_code_solution(const CodeTask& task, uint64_t seed);

nlohmann::json to_json(const CodeTask& task);  // {"id", "prompt", "tests", "difficulty"}

}  // namespace grpo::recipes
