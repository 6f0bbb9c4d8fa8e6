#include "recipes/math/math_tasks.h"

#include <array>
#include <random>

#include "common/error.h"

namespace grpo::recipes {
namespace {

struct Subject {
  const char* name;
  const char* pronoun;
};
constexpr std::array<Subject, 8> kSubjects = {{{"Ava", "She"}, {"Ben", "He"}, {"Chloe", "She"}, {"Dev", "He"},
                                               {"Emma", "She"}, {"Farid", "He"}, {"Grace", "She"}, {"Hugo", "He"}}};
constexpr std::array<const char*, 8> kItems = {"apples", "marbles", "stickers", "books", "coins", "pencils", "cards", "shells"};

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
    case Op::kAdd: return lead + " gets " + n + " more " + item + ".";
    case Op::kSub: return lead + " gives away " + n + " " + item + ".";
    case Op::kMul: return lead + " ends up with " + n + " times as many " + item + " as before.";
    case Op::kDiv: return lead + " shares the " + std::string(item) + " equally among " + n + " friends and keeps one share.";
  }
  return "";
}

// Each trace line starts with the word that starts its sentence in the problem ("Next: 4 - 1 = 3."
// for "Next, she gives away 1 ..."), so the step is found by matching a word, not by counting
// sentences, which a small model learns far more easily.
constexpr std::array<const char*, 5> kTag = {"First", "Then", "Next", "After that", "Finally"};
std::string tag(size_t index) { return kTag[index % kTag.size()]; }

char symbol(Op op) { return op == Op::kAdd ? '+' : op == Op::kSub ? '-' : op == Op::kMul ? '*' : '/'; }

std::string trace(long start, const std::vector<Step>& steps, long answer) {
  std::string t = "<think>\nStart with " + std::to_string(start) + ".\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    t += tag(i) + ": " + std::to_string(s.before) + " " + symbol(s.op) + " " + std::to_string(s.operand) + " = " +
         std::to_string(s.after) + ".\n";
  }
  return t + "</think>\nThe answer is \\boxed{" + std::to_string(answer) + "}.";
}

uint64_t mix(uint64_t seed, uint64_t index) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Rebuilds the steps of a task from its generator state (tasks do not store them).
struct Built {
  long start;
  std::vector<Step> steps;
  Subject who;
  const char* item;
  int difficulty;
};

Built build(const MathTaskOptions& o, uint64_t index) {
  GRPO_CHECK(o.min_difficulty >= 1 && o.max_difficulty <= 4 && o.min_difficulty <= o.max_difficulty, "difficulty in 1..4");
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

}  // namespace

MathTask make_math_task(const MathTaskOptions& options, uint64_t index) {
  Built b = build(options, index);
  MathTask t;
  t.difficulty = b.difficulty;
  t.answer = b.steps.back().after;
  t.id = "math-" + std::to_string(options.seed) + "-" + std::to_string(index);
  std::string story = std::string(b.who.name) + " has " + std::to_string(b.start) + " " + b.item + ".";
  for (size_t i = 0; i < b.steps.size(); ++i) story += " " + sentence(b.steps[i], b.who, b.item, static_cast<int>(i));
  story += " How many " + std::string(b.item) + " does " + b.who.name + " have now?";
  t.prompt = story + " Think step by step inside <think></think>, then give the answer as \\boxed{N}.";
  t.solution = trace(b.start, b.steps, t.answer);
  return t;
}

std::vector<MathTask> make_math_tasks(const MathTaskOptions& options, uint64_t count) {
  std::vector<MathTask> tasks;
  tasks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) tasks.push_back(make_math_task(options, i));
  return tasks;
}

std::string flawed_solution(const MathTask& task, uint64_t seed) {
  // Parse the steps back out of the correct trace's "a op b = c." lines and redo them with one slip.
  std::vector<std::array<long, 3>> lines;  // before, operand, op symbol
  std::vector<char> ops;
  size_t pos = task.solution.find("\n") + 1;
  long start = 0;
  std::sscanf(task.solution.c_str(), "<think>\nStart with %ld.", &start);
  pos = task.solution.find('\n', pos) + 1;
  while (true) {
    long a = 0, b = 0, c = 0;
    char op = 0;
    const size_t colon = task.solution.find(": ", pos);
    if (colon == std::string::npos || colon > task.solution.find('\n', pos)) break;
    if (std::sscanf(task.solution.c_str() + colon + 2, "%ld %c %ld = %ld.", &a, &op, &b, &c) != 4) break;
    lines.push_back({a, b, c});
    ops.push_back(op);
    pos = task.solution.find('\n', pos) + 1;
  }
  GRPO_CHECK(!lines.empty(), "task solution has no steps");
  std::mt19937_64 rng(mix(seed, 0xF1A3));
  const long delta = std::uniform_int_distribution<long>(0, 1)(rng) ? 1 : -1;
  auto redo = [&](size_t slip, long& value) {
    std::string t = "<think>\nStart with " + std::to_string(start) + ".\n";
    value = start;
    for (size_t i = 0; i < lines.size(); ++i) {
      const long b = lines[i][1];
      long next = ops[i] == '+' ? value + b : ops[i] == '-' ? value - b : ops[i] == '*' ? value * b : value / b;
      if (i == slip) next += ops[i] == '/' ? 1 : delta;  // the mistake: an off-by-one in this step's result
      t += tag(i) + ": " + std::to_string(value) + " " + ops[i] + " " + std::to_string(b) + " = " + std::to_string(next) + ".\n";
      value = next;
    }
    return t + "</think>\nThe answer is \\boxed{" + std::to_string(value) + "}.";
  };
  // The mistake is systematic where it can be: the first "shares equally" step keeps one item too
  // many. A base trained on many such traces makes it most of the time (its greedy answer is
  // wrong) yet sometimes divides correctly, which is what RL can find and reinforce.
  size_t slip = static_cast<size_t>(std::uniform_int_distribution<long>(0, static_cast<long>(lines.size()) - 1)(rng));
  for (size_t i = 0; i < ops.size(); ++i)
    if (ops[i] == '/') {
      slip = i;
      break;
    }
  long value = 0;
  std::string t = redo(slip, value);
  // Integer division can absorb an early slip (15 / 2 = 7 = 14 / 2); a slip in the last step cannot.
  if (value == task.answer) t = redo(lines.size() - 1, value);
  return t;
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
  return {{"id", task.id}, {"prompt", task.prompt}, {"answer", std::to_string(task.answer)}, {"difficulty", task.difficulty}};
}

}  // namespace grpo::recipes
