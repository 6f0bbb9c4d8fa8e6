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
