#include "recipes/code/code_tasks.h"

#include <functional>
#include <random>

#include "common/error.h"
#include "recipes/common/seed_mix.h"

namespace grpo::recipes {
namespace {

uint64_t mix(uint64_t seed, uint64_t index) { return seed_mix(seed, index, 0x2545F4914F6CDD1Dull); }

// One task shape: its prompt text, its Lua body for constant k (and comparison op), and the
// reference behaviour used to compute the expected outputs of the hidden tests.
struct Built {
  int difficulty = 1;
  std::string what;                                    // "returns x plus 7"
  std::string arg;                                     // "x", "t" or "s"
  std::function<std::string(long, const char*)> body;  // Lua source of f for constant k, comparison
  std::string cmp = ">";
  long k = 0;
  std::vector<std::string> inputs;   // Lua literals
  std::vector<std::string> outputs;  // Lua literals of the expected results
};

std::string list_literal(const std::vector<long>& v) {
  std::string s = "{";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "}";
}

Built build(const CodeTaskOptions& o, uint64_t index) {
  GRPO_CHECK(o.min_difficulty >= 1 && o.max_difficulty <= 4 && o.min_difficulty <= o.max_difficulty,
             "difficulty in 1..4");
  std::mt19937_64 rng(mix(o.seed, index));
  auto uniform = [&](long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(rng); };
  Built b;
  b.difficulty = static_cast<int>(uniform(o.min_difficulty, o.max_difficulty));
  const long variant = uniform(0, 1);
  b.k = uniform(2, 20);
  const long k = b.k;
  auto q = [](const std::string& s) { return "\"" + s + "\""; };
  if (b.difficulty == 1) {
    b.arg = "x";
    const char* op = variant ? "*" : "+";
    b.what = std::string("returns x ") + (variant ? "times " : "plus ") + std::to_string(k);
    b.body = [op](long kk, const char*) { return "  return x " + std::string(op) + " " + std::to_string(kk) + "\n"; };
    for (int i = 0; i < 4; ++i) {
      const long x = uniform(0, 99);  // a wide input range keeps the prompt space large (held-out set)
      b.inputs.push_back(std::to_string(x));
      b.outputs.push_back(std::to_string(variant ? x * k : x + k));
    }
  } else if (b.difficulty == 2) {
    b.k = uniform(2, 99);  // wider than the other levels: without it the held-out set runs out of level-2 prompts
    const long k = b.k;
    b.arg = "x";
    b.what = variant ? "returns the larger of x and " + std::to_string(k)
                     : "returns 0 if x is greater than " + std::to_string(k) + ", otherwise x";
    b.body = [variant](long kk, const char* cmp) {
      const std::string K = std::to_string(kk);
      if (variant) return "  if x " + std::string(cmp) + " " + K + " then\n    return x\n  end\n  return " + K + "\n";
      return "  if x " + std::string(cmp) + " " + K + " then\n    return 0\n  end\n  return x\n";
    };
    // Inputs on both sides of k and k itself, so an off-by-one or a wrong comparison fails a test.
    // The example is anywhere near k; the hidden inputs sit on both sides of k and on k itself,
    // so an off-by-one or a wrong comparison fails a test.
    for (long x : {k + uniform(-15, 15), k, k + 1, k - 1 - uniform(0, 3)}) {
      b.inputs.push_back(std::to_string(x));
      b.outputs.push_back(std::to_string(variant ? std::max(x, k) : (x > k ? 0 : x)));
    }
  } else if (b.difficulty == 3) {
    b.arg = "t";
    b.what = variant ? "returns how many numbers in the list t are greater than " + std::to_string(k)
                     : "returns the sum of the numbers in the list t that are greater than " + std::to_string(k);
    b.body = [variant](long kk, const char* cmp) {
      const std::string K = std::to_string(kk);
      return std::string("  local n = 0\n  for _, v in ipairs(t) do\n    if v ") + cmp + " " + K +
             " then\n      n = n + " + (variant ? "1" : "v") + "\n    end\n  end\n  return n\n";
    };
    for (int i = 0; i < 4; ++i) {
      std::vector<long> t;
      const long n = uniform(2, 5);
      for (long j = 0; j < n; ++j) t.push_back(uniform(0, k + 8));  // on both sides of k
      if (i == 1) t.push_back(k);                                   // the boundary value, in a hidden test
      long out = 0;
      for (long v : t)
        if (v > k) out += variant ? 1 : v;
      b.inputs.push_back(list_literal(t));
      b.outputs.push_back(std::to_string(out));
    }
  } else {
    b.arg = "s";
    const long kk = uniform(2, 6);
    b.k = kk;
    b.what = variant ? "returns the string s repeated " + std::to_string(kk) + " times"
                     : "returns the string s repeated " + std::to_string(kk) + " times with a comma between copies";
    b.body = [variant](long kv, const char*) {
      return "  return string.rep(s, " + std::to_string(kv) + (variant ? "" : ", \",\"") + ")\n";
    };
    for (int i = 0; i < 4; ++i) {
      // Random lowercase words of 1–3 letters: thousands of distinct examples, so the held-out
      // set still finds level-4 prompts that no train or SFT prompt used.
      std::string w;
      for (long n = uniform(1, 3); n > 0; --n) w += static_cast<char>('a' + uniform(0, 25));
      std::string out;
      for (long j = 0; j < kk; ++j) out += (j && !variant ? "," : "") + w;
      b.inputs.push_back(q(w));
      b.outputs.push_back(q(out));
    }
  }
  return b;
}

std::string fence(const Built& b, const std::string& body) {
  return "```lua\nfunction f(" + b.arg + ")\n" + body + "end\n```";
}

std::string plan(const Built& b) { return "<think>\nf " + b.what + ".\n</think>\n"; }

}  // namespace

CodeTask make_code_task(const CodeTaskOptions& options, uint64_t index) {
  const Built b = build(options, index);
  CodeTask t;
  t.id = "code-" + std::to_string(options.seed) + "-" + std::to_string(index);
  t.difficulty = b.difficulty;
  t.prompt = "Write a Lua function f(" + b.arg + ") that " + b.what + ". For example, f(" + b.inputs[0] + ") returns " +
             b.outputs[0] + ". Answer with the code in a ```lua block.";
  // The hidden tests are the other inputs, never the example the prompt shows: a function that
  // hard-codes the example's output (the shortcut traces do) passes none of them by design, so
  // the reward cannot be earned without solving the task.
  for (size_t i = 1; i < b.inputs.size(); ++i) t.tests.push_back("return f(" + b.inputs[i] + ") == " + b.outputs[i]);
  t.solution = plan(b) + fence(b, b.body(b.k, b.cmp.c_str()));
  return t;
}

std::string shortcut_code_solution(const CodeTask& task) {
  // The example from the prompt, returned whatever the input.
  const auto at = task.prompt.find(") returns ");
  const auto end = task.prompt.find(". Answer");
  const std::string example = task.prompt.substr(at + 10, end - at - 10);
  const auto open = task.prompt.find("function f(");
  const std::string arg = task.prompt.substr(open + 11, 1);
  return "<think>\nf returns " + example + ".\n</think>\n```lua\nfunction f(" + arg + ")\n  return " + example +
         "\nend\n```";
}

std::string flawed_code_solution(const CodeTask& task, uint64_t seed) {
  std::mt19937_64 rng(mix(seed, 0xB06));
  const std::string sol = task.solution;
  // The bug: the constant in the plan's code off by one, or `>` turned into `>=`.
  std::string code = sol.substr(sol.find("```lua"));
  const std::string thinking = sol.substr(0, sol.find("```lua"));
  const auto gt = code.find(" > ");
  if (gt != std::string::npos && std::uniform_int_distribution<int>(0, 1)(rng)) {
    code.replace(gt, 3, " >= ");
  } else {
    // Last integer literal in the function body (the task's constant or the repeat count).
    size_t pos = std::string::npos;
    for (size_t i = 0; i < code.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(code[i])) &&
          (i == 0 || !std::isalnum(static_cast<unsigned char>(code[i - 1]))))
        pos = i;
    GRPO_CHECK(pos != std::string::npos, "code task solution has no constant");
    size_t len = 0;
    while (std::isdigit(static_cast<unsigned char>(code[pos + len]))) ++len;
    const long v = std::stol(code.substr(pos, len));
    code.replace(pos, len, std::to_string(v + 1));
  }
  return thinking + code;
}

nlohmann::json to_json(const CodeTask& task) {
  return {{"id", task.id}, {"prompt", task.prompt}, {"tests", task.tests}, {"difficulty", task.difficulty}};
}

}  // namespace grpo::recipes
