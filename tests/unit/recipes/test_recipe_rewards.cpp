// The recipes' reward.lua scripts on the generator's own traces: a correct trace earns the
// full score, a shortcut or a flawed one does not, and the logged metrics say why.
#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "recipes/code/code_tasks.h"
#include "recipes/math/math_tasks.h"
#include "rewards/reward_script.h"

using namespace grpo;
using namespace grpo::recipes;

namespace {
rewards::RewardScript load(const std::string& recipe) {
  const std::string path = std::string(GRPO_SOURCE_DIR) + "/recipes/" + recipe + "/reward.lua";
  return rewards::RewardScript(read_file(path), path, {});
}
}  // namespace

TEST(RecipeRewards, Math) {
  auto script = load("math");
  MathTaskOptions o;
  for (uint64_t i = 0; i < 20; ++i) {
    const MathTask t = make_math_task(o, i);
    nlohmann::json sample = to_json(t);
    sample["completion"] = t.solution;
    auto r = script.score(sample, 0);
    EXPECT_DOUBLE_EQ(r.score, 1.1) << r.error;  // correct + format bonus
    EXPECT_EQ(r.metrics["correct"], 1);
    sample["completion"] = t.flawed;
    r = script.score(sample, 0);
    EXPECT_DOUBLE_EQ(r.score, 0.1);
    EXPECT_EQ(r.metrics["correct"], 0);
    sample["completion"] = "The answer is " + std::to_string(t.answer);  // no \boxed{}, no think
    EXPECT_DOUBLE_EQ(script.score(sample, 0).score, 0.0);
  }
}

TEST(RecipeRewards, Code) {
  auto script = load("code");
  CodeTaskOptions o;
  int shortcut_failing = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    const CodeTask t = make_code_task(o, i);
    nlohmann::json sample = to_json(t);
    sample["completion"] = t.solution;
    auto r = script.score(sample, 0);
    EXPECT_DOUBLE_EQ(r.score, 1.5) << r.error;  // all three hidden tests + the all-pass bonus
    EXPECT_EQ(r.metrics["correct"], 1);
    sample["completion"] = shortcut_code_solution(t);
    r = script.score(sample, 0);
    // Hard-coding the prompt's example earns nothing: it is not among the hidden tests.
    shortcut_failing += r.metrics["correct"] == 0 && r.score < 0.5;
    sample["completion"] = "function f(x) return x end";  // no ```lua block
    r = script.score(sample, 0);
    EXPECT_EQ(r.score, 0);
    EXPECT_EQ(r.metrics["format"], 0);
    sample["completion"] = "```lua\nwhile true do end\n```";  // never terminates: the nested budget stops it
    r = script.score(sample, 0);
    EXPECT_EQ(r.metrics["correct"], 0);
  }
  EXPECT_GE(shortcut_failing, 17);
}

// A policy under GRPO searches for completions that score without solving the task. Each of
// these wrong solutions tries to fake the hidden tests; none may earn anything.
TEST(RecipeRewards, CodeRewardIsNotFooledByHackedSolutions) {
  auto script = load("code");
  CodeTaskOptions o;
  const char* hacks[] = {
      "assert = function() end error = function() end function f(x) return -12345 end",
      "function f(x) return setmetatable({}, { __eq = function() return true end, __lt = function() return true end, "
      "__le = function() return true end, __index = function() return 0 end, __len = function() return 0 end, "
      "__tostring = function() return '0' end, __concat = function() return '' end, __call = function() return 0 end "
      "}) end",
      "pcall(function() local _, s = pairs(string) s.rep = function() return 'x' end end) "
      "pcall(function() getmetatable('').__eq = function() return true end end) function f(x) return 'nope' end",
      "pcall(setmetatable, _G, { __index = function() return function() return true end end }) f = nil",
      "function f(x) local t = {} for i = 1, 1e9 do t[i] = i end end",
      "function f(x) local ok = pcall(string.rep, 'x', 1 << 40) return -12345 end",
      "function f(x) xpcall(function() while true do end end, function() while true do end end) end",
      "function f(x) coroutine.wrap(function() local c <close> = setmetatable({}, { __close = function() "
      "while true do end end }) while true do end end)() end",
  };
  for (uint64_t i = 0; i < 8; ++i) {
    const CodeTask t = make_code_task(o, i);
    nlohmann::json sample = to_json(t);
    for (const char* hack : hacks) {
      SCOPED_TRACE(hack);
      sample["completion"] = std::string("<think>\nf.\n</think>\n```lua\n") + hack + "\n```";
      auto r = script.score(sample, 0);
      EXPECT_EQ(r.status, rewards::ScoreStatus::ok) << r.error;
      EXPECT_EQ(r.metrics["correct"], 0);
      EXPECT_EQ(r.score, 0) << "a hacked solution passed a hidden test";
    }
    // ... and the real solution right after still earns the full score.
    sample["completion"] = t.solution;
    EXPECT_DOUBLE_EQ(script.score(sample, 0).score, 1.5);
  }
}
