// The script contract and the adversarial suite, in process (RewardScript). Every attack
// must become a recorded failure with the fallback score, and the very next sample of the
// same script must score normally. C functions that run long need the worker pool:
// test_scorer.cpp.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/error.h"
#include "rewards/reward_script.h"

using namespace grpo::rewards;
using nlohmann::json;

namespace {

ScriptOptions small_limits() {
  ScriptOptions o;
  o.limits.instructions = 2'000'000;
  o.limits.memory_bytes = 8u << 20;
  o.limits.timeout_ms = 5000;  // generous: these tests must not depend on machine speed
  o.fallback = -1.0;
  return o;
}

const char* kAttackScript = R"lua(
local calls = 0                      -- a local counter: must read 0 on every call
config = { threshold = 1, names = { "a", "b" } }

local attacks = {}
attacks.loop = function() while true do end end
attacks.recursion = function() local function f(n) return 1 + f(n + 1) end return f(1) end
attacks.rep_bomb = function() return #string.rep("x", 1 << 30) end
attacks.table_bomb = function() local t = {} for i = 1, 1e9 do t[i] = ("x"):rep(100) .. i end end
attacks.os_execute = function() return os.execute("touch /tmp/grpo_pwned") end
attacks.io_open = function() return io.open("/etc/passwd") end
attacks.require = function() return require("os") end
attacks.dofile = function() return dofile("/etc/passwd") end
attacks.package = function() return package.loadlib("liblua5.4.so", "luaopen_io") end
attacks.debug = function() return debug.getregistry() end
attacks.binary_chunk = function()
  local f, err = load("\27LuaT\0\25\147\13\10\26\10\4\8\8", "x", "b")
  if not f then error(err) end
  return f()
end
attacks.string_dump = function() return string.dump(function() end) end
attacks.string_dump_method = function() return ("x").dump(function() end) end
attacks.string_metatable = function() getmetatable("").__index = { upper = function() return "pwned" end } end
attacks.string_lib_patch = function() string.upper = function() return "pwned" end end
attacks.rawset_lib = function() rawset(string, "upper", function() return "pwned" end) end
attacks.setup_table = function() config.threshold = 100 end
attacks.setup_nested = function() config.names[1] = "pwned" end
attacks.env_metatable = function() setmetatable(_ENV, nil) end
attacks.gc_finalizer = function() setmetatable({}, { __gc = function() while true do end end }) end
attacks.collectgarbage = function() collectgarbage("collect") end
attacks.coroutine_loop = function() coroutine.wrap(function() while true do end end)() end
attacks.pcall_loop = function() while true do pcall(function() while true do end end) end end
attacks.resume_loop = function()
  while true do coroutine.resume(coroutine.create(function() while true do end end)) end
end
attacks.error_tostring = function()
  error(setmetatable({}, { __tostring = function() error("tostring exploded") end }))
end
attacks.traceback = function() local function inner_helper() error("deliberate failure") end inner_helper() end
attacks.nan = function() return 0 / 0 end
attacks.inf = function() return -math.huge end
attacks.string_result = function() return "1" end
attacks.boolean_result = function() return true end
attacks.no_score = function() return { format = 1 } end
attacks.nan_score = function() return { score = 0 / 0 } end
attacks.nan_metric = function() return { score = 1, format = 0 / 0 } end
attacks.index_trap = function() return setmetatable({}, { __index = function() while true do end end }) end

-- Succeed, but try to leave state behind for the next sample.
attacks.leak_global = function() leaked = "yes"; _G.leaked_g = "yes"; calls = 99; return 1 end
attacks.leak_random = function() math.randomseed(7); return 1 end

function reward(s)
  calls = calls + 1
  if s.attack then return attacks[s.attack]() end
  local correct = grpo.math_equal(grpo.boxed(s.completion) or "", s.answer)
  return {
    score = correct and 1 or 0,
    calls = calls,
    leaked = (leaked ~= nil or leaked_g ~= nil) and 1 or 0,
    threshold = config.threshold,
    name_ok = config.names[1] == "a",
    upper_ok = ("x"):upper() == "X",
    rand = math.random(1000000),
  }
end
)lua";

json normal() { return json{{"prompt", "1/2?"}, {"completion", "so \\boxed{\\frac{1}{2}}"}, {"answer", "0.5"}}; }

void expect_normal(RewardScript& script, double rand_expected) {
  SampleResult r = script.score(normal(), 1);
  ASSERT_EQ(r.status, ScoreStatus::ok) << r.error;
  EXPECT_EQ(r.score, 1.0);
  EXPECT_EQ(r.metrics["calls"], 1.0) << "an upvalue carried over from an earlier sample";
  EXPECT_EQ(r.metrics["leaked"], 0.0) << "a global carried over from an earlier sample";
  EXPECT_EQ(r.metrics["threshold"], 1.0);
  EXPECT_EQ(r.metrics["name_ok"], 1.0);
  EXPECT_EQ(r.metrics["upper_ok"], 1.0);
  EXPECT_EQ(r.metrics["rand"], rand_expected) << "math.random state carried over";
}

struct Attack {
  const char* name;
  ScoreStatus status;
  const char* message;  // a substring the recorded error must contain
};

}  // namespace

TEST(RewardScript, AdversarialSuite) {
  RewardScript script(kAttackScript, "attack.lua", small_limits());
  SampleResult first = script.score(normal(), 1);
  ASSERT_EQ(first.status, ScoreStatus::ok) << first.error;
  const double rand = first.metrics["rand"];
  const Attack attacks[] = {
      {"loop", ScoreStatus::budget, "instruction budget"},
      {"recursion", ScoreStatus::memory, ""},  // the Lua stack hits the 8 MiB cap before LUAI_MAXSTACK
      {"rep_bomb", ScoreStatus::memory, "not enough memory"},
      {"table_bomb", ScoreStatus::memory, "not enough memory"},
      {"os_execute", ScoreStatus::error, "execute"},
      {"io_open", ScoreStatus::error, "io"},
      {"require", ScoreStatus::error, "require"},
      {"dofile", ScoreStatus::error, "dofile"},
      {"package", ScoreStatus::error, "package"},
      {"debug", ScoreStatus::error, "debug"},
      {"binary_chunk", ScoreStatus::error, "binary chunk"},
      {"string_dump", ScoreStatus::error, "dump"},
      {"string_dump_method", ScoreStatus::error, "dump"},
      {"string_metatable", ScoreStatus::error, "boolean value"},
      {"string_lib_patch", ScoreStatus::error, "read-only"},
      {"rawset_lib", ScoreStatus::error, "read-only"},
      {"setup_table", ScoreStatus::error, "read-only"},
      {"setup_nested", ScoreStatus::error, "read-only"},
      {"env_metatable", ScoreStatus::error, "protected metatable"},
      {"gc_finalizer", ScoreStatus::error, "__gc"},
      {"collectgarbage", ScoreStatus::error, "collectgarbage"},
      {"coroutine_loop", ScoreStatus::budget, "instruction budget"},
      {"pcall_loop", ScoreStatus::budget, "instruction budget"},
      {"resume_loop", ScoreStatus::budget, "instruction budget"},
      {"error_tostring", ScoreStatus::error, "error object is a table value"},
      {"traceback", ScoreStatus::error, "deliberate failure"},
      {"nan", ScoreStatus::bad_return, "NaN"},
      {"inf", ScoreStatus::bad_return, "infinite"},
      {"string_result", ScoreStatus::bad_return, "string"},
      {"boolean_result", ScoreStatus::bad_return, "boolean"},
      {"no_score", ScoreStatus::bad_return, "score"},
      {"nan_score", ScoreStatus::bad_return, "NaN"},
      {"nan_metric", ScoreStatus::bad_return, "format"},
      {"index_trap", ScoreStatus::bad_return, "score"},
  };
  for (const auto& a : attacks) {
    SCOPED_TRACE(a.name);
    json s = normal();
    s["attack"] = a.name;
    SampleResult r = script.score(s, 1);
    EXPECT_EQ(r.status, a.status) << score_status_name(r.status) << ": " << r.error;
    EXPECT_TRUE(r.failed());
    EXPECT_EQ(r.score, -1.0) << "a failure scores the fallback";
    EXPECT_NE(r.error.find(a.message), std::string::npos) << r.error;
    expect_normal(script, rand);
  }
  EXPECT_FALSE(std::filesystem::exists("/tmp/grpo_pwned"));
}

TEST(RewardScript, LeakAttemptsDoNotReachTheNextSample) {
  RewardScript script(kAttackScript, "attack.lua", small_limits());
  const double rand = script.score(normal(), 1).metrics["rand"];
  for (const char* attack : {"leak_global", "leak_random"}) {
    SCOPED_TRACE(attack);
    json s = normal();
    s["attack"] = attack;
    SampleResult r = script.score(s, 1);
    ASSERT_EQ(r.status, ScoreStatus::ok) << r.error;  // succeeding is allowed; leaking is not
    expect_normal(script, rand);
  }
}

TEST(RewardScript, ErrorsCarryATraceback) {
  RewardScript script(kAttackScript, "attack.lua", small_limits());
  json s = normal();
  s["attack"] = "traceback";
  SampleResult r = script.score(s, 1);
  EXPECT_NE(r.error.find("attack.lua:"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("stack traceback"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("inner_helper"), std::string::npos) << r.error;
}

TEST(RewardScript, WallClockDeadlineInTheHook) {
  ScriptOptions o = small_limits();
  o.limits.instructions = 1'000'000'000'000LL;  // only the clock can stop it
  o.limits.timeout_ms = 100;
  RewardScript script("function reward(s) if s.spin then while true do end end return 1 end", "spin.lua", o);
  SampleResult r = script.score(json{{"spin", true}}, 1);
  EXPECT_EQ(r.status, ScoreStatus::timeout) << r.error;
  EXPECT_NE(r.error.find("100 ms"), std::string::npos) << r.error;
  EXPECT_EQ(script.score(json::object(), 1).score, 1.0);
}

TEST(RewardScript, ReturnShapes) {
  RewardScript script(R"lua(
    function reward(s)
      if s.kind == "number" then return 0.25 end
      if s.kind == "table" then return { score = -2, format = 1, correct = true, note = "ignored", nested = {} } end
      if s.kind == "nil" then return nil end
    end)lua",
                      "shapes.lua", small_limits());
  SampleResult n = script.score(json{{"kind", "number"}}, 1);
  EXPECT_EQ(n.status, ScoreStatus::ok);
  EXPECT_EQ(n.score, 0.25);
  SampleResult t = script.score(json{{"kind", "table"}}, 1);
  EXPECT_EQ(t.status, ScoreStatus::ok);
  EXPECT_EQ(t.score, -2.0);
  EXPECT_EQ(t.metrics, (std::map<std::string, double>{{"correct", 1.0}, {"format", 1.0}}));
  SampleResult z = script.score(json{{"kind", "nil"}}, 1);
  EXPECT_EQ(z.status, ScoreStatus::not_applicable);
  EXPECT_FALSE(z.failed());
  EXPECT_FALSE(z.applicable());
}

TEST(RewardScript, SampleFieldsReachTheScript) {
  RewardScript script(R"lua(
    function reward(s)
      assert(s.prompt == "p" and s.completion == "c" and s.finish_reason == "stop", "basic fields")
      assert(s.index == 3, "index")
      assert(s.tests[2] == "t2" and #s.tests == 2, "arrays are 1-based sequences")
      assert(s.meta.level == 5 and s.meta.ok == true and s.meta.none == nil, "nested objects")
      return s.meta.level
    end)lua",
                      "fields.lua", small_limits());
  json s = {{"prompt", "p"},
            {"completion", "c"},
            {"finish_reason", "stop"},
            {"tests", {"t1", "t2"}},
            {"meta", {{"level", 5}, {"ok", true}, {"none", nullptr}}}};
  SampleResult r = script.score(s, 3);
  EXPECT_EQ(r.status, ScoreStatus::ok) << r.error;
  EXPECT_EQ(r.score, 5.0);
}

TEST(RewardScript, ReadOnlySetupStillReads) {
  RewardScript script(R"lua(
    local WEIGHTS = { 1, 2, 3 }
    LOOKUP = { a = { value = 10 } }
    local function total(t) local s = 0 for _, v in ipairs(t) do s = s + v end return s end
    function reward(s)
      local keys = 0
      for k, v in pairs(LOOKUP) do keys = keys + 1 end
      return { score = total(WEIGHTS) + #WEIGHTS + LOOKUP.a.value, keys = keys, concat = #table.concat(WEIGHTS, ",") }
    end)lua",
                      "setup.lua", small_limits());
  SampleResult r = script.score(json::object(), 1);
  ASSERT_EQ(r.status, ScoreStatus::ok) << r.error;
  EXPECT_EQ(r.score, 6.0 + 3.0 + 10.0);
  EXPECT_EQ(r.metrics["keys"], 1.0);
  EXPECT_EQ(r.metrics["concat"], 5.0);
}

TEST(RewardScript, GroupRewards) {
  RewardScript script(R"lua(
    -- The shortest completion of the group wins; an empty one is not applicable.
    function reward_group(samples)
      local best, out = math.huge, {}
      for _, s in ipairs(samples) do if #s.completion > 0 then best = math.min(best, #s.completion) end end
      for i, s in ipairs(samples) do
        assert(s.index == i)
        if #s.completion == 0 then out[i] = nil else out[i] = (#s.completion == best) and 1 or 0 end
      end
      return out
    end)lua",
                      "group.lua", small_limits());
  EXPECT_FALSE(script.has_reward());
  EXPECT_TRUE(script.has_reward_group());
  std::vector<json> g = {json{{"completion", "long one"}}, json{{"completion", "ab"}}, json{{"completion", ""}},
                         json{{"completion", "abc"}}};
  auto r = script.score_group(g);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].score, 0.0);
  EXPECT_EQ(r[1].score, 1.0);
  EXPECT_EQ(r[2].status, ScoreStatus::not_applicable);
  EXPECT_EQ(r[3].score, 0.0);
}

TEST(RewardScript, GroupRewardWrongShapes) {
  RewardScript script(R"lua(
    function reward_group(samples)
      if samples[1].completion == "str" then return "no" end
      local out = {}
      for i = 1, #samples + 1 do out[i] = 1 end
      return out
    end)lua",
                      "group_bad.lua", small_limits());
  for (const char* c : {"str", "long"}) {
    auto r = script.score_group({json{{"completion", c}}, json{{"completion", "x"}}});
    for (const auto& s : r) {
      EXPECT_EQ(s.status, ScoreStatus::bad_return) << s.error;
      EXPECT_EQ(s.score, -1.0);
    }
  }
}

TEST(RewardScript, LoadFailuresNameTheFile) {
  const std::pair<const char*, const char*> cases[] = {
      {"function reward(s) return 1", "does not compile"},
      {"error('setup broke')", "setup broke"},
      {"while true do end", "budget"},
      {"local x = 1", "defines neither"},
      {"reward = 5", "must be a function"},
      {"\27Lua", "does not compile"},
      {"local big = string.rep(\"x\", 1 << 30)", "memory"},
  };
  for (const auto& [source, message] : cases) {
    SCOPED_TRACE(source);
    try {
      RewardScript script(source, "broken.lua", small_limits());
      ADD_FAILURE() << "loaded";
    } catch (const grpo::Error& e) {
      std::string what = e.what();
      EXPECT_NE(what.find("broken.lua"), std::string::npos) << what;
      EXPECT_NE(what.find(message), std::string::npos) << what;
    }
  }
}

TEST(RewardScript, Sha256OfTheSource) {
  RewardScript script("function reward(s) return 1 end", "one.lua", small_limits());
  EXPECT_EQ(script.sha256().size(), 64u);
  RewardScript other("function reward(s) return 2 end", "one.lua", small_limits());
  EXPECT_NE(script.sha256(), other.sha256());
}

TEST(RewardScript, ManyCallsAcrossRecycling) {
  ScriptOptions o = small_limits();
  o.recycle_after = 7;  // rebuild the state often: scores must not change
  RewardScript script("local n = 0 function reward(s) n = n + 1 return n + s.x end", "n.lua", o);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(script.score(json{{"x", i}}, 1).score, 1.0 + i);
}
