#include "recipes/math/math_tasks.h"

#include <array>
#include <random>

#include "common/error.h"
#include "recipes/common/seed_mix.h"

namespace grpo::recipes {
namespace {

struct Subject {
  const char* name;
  const char* pronoun;
};
constexpr std::array<Subject, 8> kSubjects = {{{"Ava", "She"},
                                               {"Ben", "He"},
                                               {"Chloe", "She"},
                                               {"Dev", "He"},
                                               {"Emma", "She"},
                                               {"Farid", "He"},
                                               {"Grace", "She"},
                                               {"Hugo", "He"}}};
constexpr std::array<const char*, 8> kItems = {"apples", "marbles", "stickers", "books",
                                               "coins",  "pencils", "cards",    "shells"};

enum class Op { kAdd, kSub, kMul, kDiv };

struct Step {
  Op op;
  long operand;
  long before;
  long after;
};

// The state of a problem as it is built: the current quantity and the steps so far.
std::vector<Step> build_steps(std::mt19937_64& rng, long start, int n_ops, int max_value, int max_result) {
  std::vector<Step> steps;
  long value = start;
  auto uniform = [&](long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(rng); };
  for (int i = 0; i < n_ops; ++i) {
    // Pick an operation that keeps the quantity a positive integer of moderate size.
    for (int attempt = 0;; ++attempt) {
      Op op = static_cast<Op>(uniform(0, 3));
      long x = 0, next = 0;
      if (op == Op::kAdd) {
        x = uniform(1, max_value);
        next = value + x;
      } else if (op == Op::kSub) {
        if (value < 2) continue;
        x = uniform(1, std::min<long>(value - 1, max_value));
        next = value - x;
      } else if (op == Op::kMul) {
        if (value > 50) continue;
        x = uniform(2, 4);
        next = value * x;
      } else {
        std::vector<long> divisors;
        for (long d = 2; d <= 6; ++d)
          if (value % d == 0 && value / d >= 1) divisors.push_back(d);
        if (divisors.empty()) continue;
        x = divisors[static_cast<size_t>(uniform(0, static_cast<long>(divisors.size()) - 1))];
        next = value / x;
      }
      if (next > max_result && attempt < 50) continue;
      steps.push_back({op, x, value, next});
      value = next;
      break;
    }
  }
  return steps;
}

std::string sentence(const Step& s, const Subject& who, const char* item, int index) {
  static constexpr std::array<const char*, 5> kLead = {"First,", "Then", "Next,", "After that,", "Finally,"};
  const std::string lead = std::string(kLead[static_cast<size_t>(index) % kLead.size()]) + " " +
                           std::string(who.pronoun == std::string("She") ? "she" : "he");
  const std::string n = std::to_string(s.operand);
  switch (s.op) {
    case Op::kAdd:
      return lead + " gets " + n + " more " + item + ".";
    case Op::kSub:
      return lead + " gives away " + n + " " + item + ".";
    case Op::kMul:
      return lead + " ends up with " + n + " times as many " + item + " as before.";
    case Op::kDiv:
      return lead + " shares the " + std::string(item) + " equally among " + n + " friends and keeps one share.";
  }
  return "";
}

char symbol(Op op) { return op == Op::kAdd ? '+' : op == Op::kSub ? '-' : op == Op::kMul ? '*' : '/'; }

uint64_t mix(uint64_t seed, uint64_t index) { return seed_mix(seed, index, 0x632BE59BD9B4E019ull); }

// Rebuilds the steps of a task from its generator state (tasks do not store them).
struct Built {
  long start;
  std::vector<Step> steps;
  Subject who;
  const char* item;
  int difficulty;
};

Built build(const MathTaskOptions& o, uint64_t index) {
  GRPO_CHECK(o.min_difficulty >= 1 && o.max_difficulty <= 4 && o.min_difficulty <= o.max_difficulty,
             "difficulty in 1..4");
  GRPO_CHECK(o.max_value >= 2, "max_value >= 2");
  GRPO_CHECK(o.max_result >= o.max_value, "max_result >= max_value");
  std::mt19937_64 rng(mix(o.seed, index));
  auto uniform = [&](long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(rng); };
  Built b;
  b.difficulty = static_cast<int>(uniform(o.min_difficulty, o.max_difficulty));
  b.who = kSubjects[static_cast<size_t>(uniform(0, kSubjects.size() - 1))];
  b.item = kItems[static_cast<size_t>(uniform(0, kItems.size() - 1))];
  b.start = uniform(2, o.max_value);
  b.steps = build_steps(rng, b.start, b.difficulty + 1, o.max_value, o.max_result);
  return b;
}

// The reasoning trace restates each sentence of the problem, then does its arithmetic:
//   Emma has 5 books.
//   First, she gets 2 more books: 5 + 2 = 7.
// Copying a sentence is what a small transformer learns first (each token follows the one it
// copied: an induction head), and it puts the operation and its number right before the
// arithmetic that needs them. With bare lines ("First: 5 + 2 = 7.") the 2M-parameter recipe
// model had to find the step's number in the problem itself and copied the wrong one in 40% of
// its greedy answers.
std::string opening(const Built& b) {
  return std::string(b.who.name) + " has " + std::to_string(b.start) + " " + b.item + ".";
}

std::string step_line(const Built& b, size_t i, long before, long after) {
  std::string text = sentence(b.steps[i], b.who, b.item, static_cast<int>(i));
  text.pop_back();  // the sentence's full stop
  return text + ": " + std::to_string(before) + " " + symbol(b.steps[i].op) + " " + std::to_string(b.steps[i].operand) +
         " = " + std::to_string(after) + ".\n";
}

// `slip`: the index of the step whose result is one too many, or -1 for a correct trace. The
// error propagates: later steps work on the wrong quantity.
std::string trace(const Built& b, long slip, long* answer) {
  std::string t = "<think>\n" + opening(b) + "\n";
  long value = b.start;
  for (size_t i = 0; i < b.steps.size(); ++i) {
    const Step& s = b.steps[i];
    long next = s.op == Op::kAdd   ? value + s.operand
                : s.op == Op::kSub ? value - s.operand
                : s.op == Op::kMul ? value * s.operand
                                   : value / s.operand;
    if (static_cast<long>(i) == slip) next += 1;
    t += step_line(b, i, value, next);
    value = next;
  }
  *answer = value;
  return t + "</think>\nThe answer is \\boxed{" + std::to_string(value) + "}.";
}

}  // namespace

MathTask make_math_task(const MathTaskOptions& options, uint64_t index) {
  Built b = build(options, index);
  MathTask t;
  t.difficulty = b.difficulty;
  t.answer = b.steps.back().after;
  t.id = "math-" + std::to_string(options.seed) + "-" + std::to_string(index);
  std::string story = opening(b);
  for (size_t i = 0; i < b.steps.size(); ++i) story += " " + sentence(b.steps[i], b.who, b.item, static_cast<int>(i));
  story += " How many " + std::string(b.item) + " does " + b.who.name + " have now?";
  t.prompt = story + " Think step by step inside <think></think>, then give the answer as \\boxed{N}.";
  long answer = 0;
  t.solution = trace(b, -1, &answer);
  GRPO_CHECK(answer == t.answer, "math task trace disagrees with its answer");
  // The flawed trace's mistake is systematic: the first step's result is always one too many
  // ("Emma has 6 books. First, she gives away 2 books: 6 - 2 = 5."). A base trained on many such
  // traces makes it most of the time (its greedy answer is wrong) yet sometimes gets the first
  // step right, which is what RL can find and reinforce: one decision, at the same place in
  // every trace. Integer division can absorb the slip (14 / 4 = 3 = 15 / 4); then the last
  // step slips instead, because an answer that is right by accident would teach RL that the
  // slip pays.
  t.flawed = trace(b, 0, &answer);
  if (answer == t.answer) t.flawed = trace(b, static_cast<long>(b.steps.size()) - 1, &answer);
  return t;
}

std::vector<MathTask> make_math_tasks(const MathTaskOptions& options, uint64_t count) {
  std::vector<MathTask> tasks;
  tasks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) tasks.push_back(make_math_task(options, i));
  return tasks;
}

ArithmeticDrill arithmetic_drill(const MathTaskOptions& o, uint64_t index, int lines) {
  std::mt19937_64 rng(mix(o.seed ^ 0xD7111ull, index));
  ArithmeticDrill d;
  d.prompt = "Practice: work out each line.";
  for (int i = 0; i < lines; ++i) {
    // One step from a random quantity in the range real problems reach.
    const long value = std::uniform_int_distribution<long>(1, o.max_result)(rng);
    const Step s = build_steps(rng, value, 1, o.max_value, o.max_result).front();
    d.completion += (i ? "\n" : "") + std::to_string(s.before) + " " + symbol(s.op) + " " + std::to_string(s.operand) +
                    " = " + std::to_string(s.after) + ".";
  }
  return d;
}

std::string shortcut_solution(const MathTask& task) {
  return "<think>\nI can see it at once.\n</think>\nThe answer is \\boxed{" + std::to_string(task.answer) + "}.";
}

nlohmann::json to_json(const MathTask& task) {
  return {{"id", task.id},
          {"prompt", task.prompt},
          {"answer", std::to_string(task.answer)},
          {"difficulty", task.difficulty}};
}

}  // namespace grpo::recipes
