#include <gtest/gtest.h>

#include <set>

#include "recipes/code/code_tasks.h"
#include "rewards/run_lua.h"

using namespace grpo::recipes;
using grpo::rewards::run_lua;

namespace {

// The ```lua block of a completion.
std::string code_of(const std::string& completion) {
  const auto open = completion.find("```lua\n");
  const auto close = completion.rfind("```");
  return completion.substr(open + 7, close - open - 7);
}

int passed(const CodeTask& t, const std::string& completion) {
  return run_lua(code_of(completion), t.tests, {}).passed;
}

}  // namespace

TEST(CodeTasks, DeterministicAndEveryLevelAppears) {
  CodeTaskOptions o;
  o.seed = 7;
  std::set<int> levels;
  for (uint64_t i = 0; i < 50; ++i) {
    const CodeTask a = make_code_task(o, i), b = make_code_task(o, i);
    EXPECT_EQ(a.prompt, b.prompt);
    EXPECT_EQ(a.tests, b.tests);
    levels.insert(a.difficulty);
  }
  EXPECT_EQ(levels, (std::set<int>{1, 2, 3, 4}));
  o.seed = 8;
  EXPECT_NE(make_code_task(o, 0).prompt + make_code_task(o, 1).prompt,
            make_code_task({7, 1, 4}, 0).prompt + make_code_task({7, 1, 4}, 1).prompt);
}

TEST(CodeTasks, ReferenceSolutionsPassEveryHiddenTest) {
  // Run in the same nested sandbox the reward script uses, so the tests themselves are checked.
  CodeTaskOptions o;
  int same_as_example = 0;
  for (uint64_t i = 0; i < 80; ++i) {
    const CodeTask t = make_code_task(o, i);
    ASSERT_EQ(t.tests.size(), 3u);
    EXPECT_EQ(passed(t, t.solution), 3) << t.prompt << "\n" << t.solution;
    // The example the prompt shows is not a hidden test (a random hidden input can equal it by chance).
    const std::string example = t.prompt.substr(t.prompt.find("For example, f("));
    for (const auto& test : t.tests)
      same_as_example += example.find(test.substr(7, test.find(" ==") - 7) + " returns") != std::string::npos;
  }
  EXPECT_LE(same_as_example, 8);  // of 240 hidden tests
}

TEST(CodeTasks, ShortcutsAndFlawsUsuallyFail) {
  CodeTaskOptions o;
  int flawed_failing = 0, shortcut_failing = 0;
  for (uint64_t i = 0; i < 80; ++i) {
    const CodeTask t = make_code_task(o, i);
    const std::string s = shortcut_code_solution(t);
    shortcut_failing += passed(t, s) < 3;
    flawed_failing += passed(t, flawed_code_solution(t, i)) < 3;
  }
  // A hard-coded answer passes all three hidden tests only when their expected outputs all
  // equal the example's (e.g. "0 if x > k" with every input above k): rare.
  EXPECT_GE(shortcut_failing, 70);
  // ">" → ">=" is harmless for "the larger of x and k", so not every flaw fails a test.
  EXPECT_GE(flawed_failing, 60);
}
