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
  // The same trace with one arithmetic slip that propagates to a wrong final answer: the SFT
  // data mixes these in so the base policy is capable but unreliable, leaving room for RL. The
  // slip is systematic: the first step's result is one too many ("6 - 2 = 5"), unless a later
  // division would absorb it, when the last step's is.
  std::string flawed;
};

struct MathTaskOptions {
  uint64_t seed = 1;
  int min_difficulty = 1;
  int max_difficulty = 4;
  int max_value = 20;    // operands are drawn from 1..max_value
  int max_result = 400;  // intermediate quantities stay at or below this (when a step allows it)
};

// The i-th task of the stream for `options` (pure function of seed and index).
MathTask make_math_task(const MathTaskOptions& options, uint64_t index);

// `count` tasks; the eval set uses another seed so no prompt appears in both.
std::vector<MathTask> make_math_tasks(const MathTaskOptions& options, uint64_t count);

// A trace that states the answer without working it out ("<think>\nI can see it at once.\n</think>…").
// The answer is the right one, but a small model cannot compute several steps in one token, so
// a base policy that learned to take this shortcut mostly guesses: RL has to teach it to reason.
std::string shortcut_solution(const MathTask& task);

// A practice sheet for the base policy's pretraining: `lines` independent "a op b = c." facts
// drawn like the steps of real problems (same operators, operand and result ranges). A small
// model learns the arithmetic from these far faster than from the few steps inside each trace.
struct ArithmeticDrill {
  std::string prompt;      // a fixed instruction
  std::string completion;  // the facts, one per line
};
ArithmeticDrill arithmetic_drill(const MathTaskOptions& options, uint64_t index, int lines = 16);

nlohmann::json to_json(const MathTask& task);  // {"id", "prompt", "answer", "difficulty"}

}  // namespace grpo::recipes
