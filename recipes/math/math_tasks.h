// Synthetic GSM8K-style arithmetic word problems for the math recipe: a few quantities, two to
// five operations, integer answers, and a difficulty knob. Seeded and deterministic, so the
// train and held-out sets are the same on every machine.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grpo::recipes {

struct MathTask {
  std::string prompt;    // the word problem and the instruction to answer in \boxed{}
  long answer = 0;       // the integer answer
  int difficulty = 1;    // 1..4 → 2..5 operations
  std::string solution;  // a correct reasoning trace: "<think>…</think>\nThe answer is \boxed{N}."
  std::string id;        // stable id: "math-<seed>-<index>"
};

struct MathTaskOptions {
  uint64_t seed = 1;
  int min_difficulty = 1;
  int max_difficulty = 4;
  int max_value = 20;  // operands are drawn from 1..max_value
};

// The i-th task of the stream for `options` (pure function of seed and index).
MathTask make_math_task(const MathTaskOptions& options, uint64_t index);

// `count` tasks; the eval set uses another seed so no prompt appears in both.
std::vector<MathTask> make_math_tasks(const MathTaskOptions& options, uint64_t count);

// A reasoning trace with one arithmetic slip that propagates to a wrong final answer: the SFT
// data mixes these in so the base policy is capable but unreliable, leaving room for RL.
std::string flawed_solution(const MathTask& task, uint64_t seed);

nlohmann::json to_json(const MathTask& task);  // {"id", "prompt", "answer", "difficulty"}

}  // namespace grpo::recipes
