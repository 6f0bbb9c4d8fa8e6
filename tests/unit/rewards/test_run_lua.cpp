// grpo.run_lua: generated code against tests in a nested sandbox with its own limits.
#include <gtest/gtest.h>

#include "rewards/reward_script.h"
#include "rewards/run_lua.h"

using namespace grpo::rewards;

namespace {

RunLuaLimits quick() {
  RunLuaLimits l;
  l.instructions = 1'000'000;
  l.memory_bytes = 4u << 20;
  l.timeout_ms = 5000;  // only the budget should stop these; the clock is tested separately
  return l;
}

}  // namespace

TEST(RunLua, PassFailAndAssertStyles) {
  auto r = run_lua("function add(a, b) return a + b end",
                   {"assert(add(1, 2) == 3)", "return add(2, 2) == 4", "return add(1, 1) == 3", "error('nope')",
                    "return add(1, 1) == 2 and nil"},
                   quick());
  ASSERT_TRUE(r.loaded) << r.error;
  ASSERT_EQ(r.tests.size(), 5u);
  EXPECT_TRUE(r.tests[0].passed);
  EXPECT_TRUE(r.tests[1].passed);
  EXPECT_FALSE(r.tests[2].passed);
  EXPECT_EQ(r.tests[2].error, "the test returned false");
  EXPECT_FALSE(r.tests[3].passed);
  EXPECT_NE(r.tests[3].error.find("nope"), std::string::npos);
  EXPECT_FALSE(r.tests[4].passed);  // an explicit nil result is a failure
  EXPECT_EQ(r.passed, 2);
}

TEST(RunLua, CodeThatDoesNotLoad) {
  auto syntax = run_lua("function add(a, b return a + b end", {"return true"}, quick());
  EXPECT_FALSE(syntax.loaded);
  EXPECT_NE(syntax.error.find("solution"), std::string::npos) << syntax.error;
  EXPECT_TRUE(syntax.tests.empty());
  auto bomb = run_lua("local s = string.rep('x', 1 << 28)", {"return true"}, quick());
  EXPECT_FALSE(bomb.loaded);
  EXPECT_NE(bomb.error.find("memory"), std::string::npos) << bomb.error;
  auto binary = run_lua("\27LuaT\0", {}, quick());
  EXPECT_FALSE(binary.loaded);
}

TEST(RunLua, LimitsPerTestAndIsolationBetweenTests) {
  auto r = run_lua("function f(n) if n < 0 then while true do end end return n end",
                   {"return f(-1) == 0", "leak = 1 return f(2) == 2", "return leak == nil", "return os.execute == nil",
                    "return io == nil and require == nil and grpo == nil and debug == nil"},
                   quick());
  ASSERT_TRUE(r.loaded) << r.error;
  EXPECT_FALSE(r.tests[0].passed);
  EXPECT_NE(r.tests[0].error.find("budget"), std::string::npos) << r.tests[0].error;
  EXPECT_TRUE(r.tests[1].passed) << r.tests[1].error;
  EXPECT_TRUE(r.tests[2].passed) << "a test's globals reached the next test";
  EXPECT_TRUE(r.tests[3].passed) << r.tests[3].error;
  EXPECT_TRUE(r.tests[4].passed) << r.tests[4].error;
}

TEST(RunLua, WallClockLimit) {
  RunLuaLimits l = quick();
  l.instructions = 1'000'000'000'000LL;
  l.timeout_ms = 100;
  auto r = run_lua("while true do end", {}, l);
  EXPECT_FALSE(r.loaded);
  EXPECT_NE(r.error.find("timeout"), std::string::npos) << r.error;
}

TEST(RunLua, FromARewardScript) {
  ScriptOptions o;
  o.limits.instructions = 5'000'000;
  RewardScript script(R"lua(
    function reward(s)
      local code = s.completion:match("```lua\n(.-)```") or s.completion
      local res = grpo.run_lua(code, s.tests, { instructions = 1e6, memory_mb = 8, timeout_ms = 2000 })
      return { score = res.passed / res.total, loaded = res.loaded, passed = res.passed }
    end)lua",
                      "code.lua", o);
  nlohmann::json tests = {"assert(sq(3) == 9)", "return sq(-2) == 4", "return sq(0) == 0"};
  auto good = script.score({{"completion", "```lua\nfunction sq(x) return x * x end\n```"}, {"tests", tests}}, 1);
  ASSERT_EQ(good.status, ScoreStatus::ok) << good.error;
  EXPECT_EQ(good.score, 1.0);
  auto wrong = script.score({{"completion", "function sq(x) return x + x end"}, {"tests", tests}}, 1);
  EXPECT_NEAR(wrong.score, 1.0 / 3.0, 1e-15);  // only sq(0) passes; 1/3 in double
  auto hostile = script.score({{"completion", "os.exit(1) function sq(x) return x * x end"}, {"tests", tests}}, 1);
  ASSERT_EQ(hostile.status, ScoreStatus::ok) << hostile.error;
  EXPECT_EQ(hostile.score, 0.0);
  EXPECT_EQ(hostile.metrics["loaded"], 0.0);
  auto spin = script.score({{"completion", "while true do end"}, {"tests", tests}}, 1);
  ASSERT_EQ(spin.status, ScoreStatus::ok) << spin.error;  // the nested budget stops it, not the outer one
  EXPECT_EQ(spin.metrics["loaded"], 0.0);
}
