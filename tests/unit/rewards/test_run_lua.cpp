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

namespace {

// Tests in the style the code recipe generates, for a solution that must compute x * 3.
const std::vector<std::string_view> kTimes3 = {"return f(2) == 6", "assert(f(5) == 15)",
                                               "if f(0) ~= 0 then error('f(0)') end",
                                               "assert(type(f(1)) == 'number' and tostring(f(1)) == '3')",
                                               "return select('#', f(4)) == 1 and string.format('%d', f(4)) == '12'"};

}  // namespace

TEST(RunLua, ACorrectSolutionPassesEveryStyle) {
  auto r = run_lua("function f(x) return x * 3 end", kTimes3, quick());
  ASSERT_TRUE(r.loaded) << r.error;
  EXPECT_EQ(r.passed, 5);
}

// Wrong solutions that try to pass anyway: by redefining what the tests call, by poisoning
// the libraries, by returning objects with metamethods, by leaving state between tests.
TEST(RunLua, WrongSolutionsCannotFakePasses) {
  const char* hacks[] = {
      "function f(x) return -1 end assert = function() return true end",
      "function f(x) return -1 end error = function() end",
      "function f(x) return -1 end function type() return 'number' end function tostring() return '3' end "
      "function select() return 1 end",
      "function f(x) return -1 end _G.assert = function() end _ENV.error = function() end",
      "function f(x) return -1 end pcall(function() local _, s = pairs(string) s.format = function() return '12' end "
      "end)",
      "function f(x) return -1 end pcall(function() getmetatable('').__index = { format = function() return '12' end } "
      "end)",
      "function f(x) return -1 end pcall(rawset, string, 'format', function() return '12' end)",
      "function f(x) return -1 end pcall(setmetatable, _ENV, { __index = function() return function() return true end "
      "end })",
      // Objects with metamethods: no comparison with a number or a string calls them.
      "local yes = { __eq = function() return true end, __lt = function() return true end, "
      "__le = function() return true end, __tostring = function() return '3' end, __concat = function() return '12' "
      "end, "
      "__len = function() return 1 end, __index = function() return 3 end, __call = function() return 3 end } "
      "function f(x) return setmetatable({}, yes) end",
      // A test that returns the solution's value: only `true` passes.
      "function f(x) return setmetatable({}, { __eq = function() return true end }) end",
      // A coroutine that yields across the test: no test state survives it.
      "function f(x) coroutine.yield() end",
      "function f(x) while true do end end",
      "function f(x) local t = {} for i = 1, 1e9 do t[i] = i end end",
      "function f(x) local ok = pcall(string.rep, 'x', 1 << 40) return -1 end",
      "function f(x) error(setmetatable({}, { __tostring = function() return 'ok' end })) end",
  };
  for (const char* code : hacks) {
    SCOPED_TRACE(code);
    auto r = run_lua(code, kTimes3, quick());
    EXPECT_EQ(r.passed, 0) << (r.tests.empty() ? r.error : r.tests[0].error);
  }
  // `return f(x)` style: a truthy object from the solution is not `true`.
  auto truthy = run_lua("function f(x) return {} end", {"return f(1)", "return f(1) ~= nil"}, quick());
  EXPECT_FALSE(truthy.tests[0].passed);
  EXPECT_NE(truthy.tests[0].error.find("table value"), std::string::npos) << truthy.tests[0].error;
  EXPECT_TRUE(truthy.tests[1].passed);
}

TEST(RunLua, NothingSurvivesFromOneTestToTheNext) {
  // The solution counts its calls and answers right only on its first call in a state: with
  // a fresh state per test every test sees the first call. Writes to globals, to string and
  // to the solution's upvalues are all gone at the next test.
  auto r = run_lua(
      "local calls = 0 function f(x) calls = calls + 1 if calls > 1 then return -1 end "
      "shared = (shared or 0) + 1 return x * 3 end",
      {"return f(1) == 3 and shared == 1", "return f(2) == 6 and shared == 1", "leak = 1 return true",
       "return leak == nil and f(3) == 9"},
      quick());
  ASSERT_TRUE(r.loaded) << r.error;
  EXPECT_EQ(r.passed, 4) << r.tests[0].error << r.tests[1].error << r.tests[3].error;
}

TEST(RunLua, DeepCoroutineCloseIsRefusedNotACrash) {
  auto r = run_lua(R"lua(
    local coro = false
    for i = 1, 1000 do
      local previous = coro
      coro = coroutine.create(function()
        local cc <close> = setmetatable({}, { __close = function()
          if previous then assert(coroutine.close(previous)) end
        end })
        coroutine.yield()
      end)
      assert(coroutine.resume(coro))
    end
    assert(coroutine.close(coro))
  )lua",
                   {"return true"}, quick());
  EXPECT_FALSE(r.loaded);
  EXPECT_NE(r.error.find("nested more than 100 deep"), std::string::npos) << r.error;
}

TEST(RunLua, TestStringsAreNotCopiedAndMessagesAreCapped) {
  // 32 tests that are one 4 MiB string (a comment) and a solution raising 1 MiB errors.
  const std::string big = "--" + std::string(4 << 20, 'c') + "\nreturn f(1)";
  std::vector<std::string_view> tests(32, big);
  RunLuaLimits l = quick();
  l.memory_bytes = 16u << 20;
  auto r = run_lua("function f(x) error(('e'):rep(1 << 20)) end", tests, l);
  ASSERT_TRUE(r.loaded) << r.error;
  ASSERT_EQ(r.tests.size(), 32u);
  for (const auto& t : r.tests) {
    EXPECT_FALSE(t.passed);
    EXPECT_LE(t.error.size(), kTestErrorBytes + 64);
    EXPECT_NE(t.error.find("more bytes of this message cut"), std::string::npos) << t.error.substr(0, 200);
  }
}
