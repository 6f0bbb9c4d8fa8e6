// The second round of attacks on the reward sandbox (issue 21), in process: cross-sample
// poisoning, hook bypasses, interpreter crashes and memory outside the caps. Every attack
// must end as a recorded failure or a bounded score, and the very next sample must compute
// exactly what it computes on a fresh script. Nothing here needs the worker process's kill:
// all of it is bounded in process (what `--workers 0` relies on). The first round is
// test_reward_script.cpp; run_lua hacking is test_run_lua.cpp; rows and RSS test_scorer.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>

#include "common/error.h"
#include "rewards/answer.h"
#include "rewards/reward_script.h"

using namespace grpo::rewards;
using nlohmann::json;

namespace {

ScriptOptions limits() {
  ScriptOptions o;
  o.limits.instructions = 2'000'000;
  o.limits.memory_bytes = 16u << 20;
  o.limits.timeout_ms = 10000;  // generous: only the budget should stop these
  o.fallback = -1.0;
  return o;
}

// Each attack runs as sample.attack; a sample without one computes a fingerprint of
// everything an attack could have poisoned.
const char* kScript = R"lua(
local G = _G                      -- the common idiom: a handle on the setup environment
local insert = table.insert       -- library functions as upvalues stay allowed
config = { threshold = 1 }
local env = setmetatable({ count = 0 }, { __index = _G })
local bump_explicit = load("count = count + 1 return count", "bump", "t", env)
local bump_default = load("n = (n or 0) + 1 return n")
local bump_local
do
  local _ENV = { count = 0 }
  function bump_local() count = count + 1 return count end
end

local function deep_close(n)      -- the Lua 5.4.4 nested coroutine.close crash
  local coro = false
  for i = 1, n do
    local previous = coro
    coro = coroutine.create(function()
      local cc <close> = setmetatable({}, { __close = function()
        if previous then assert(coroutine.close(previous)) end
      end })
      coroutine.yield()
    end)
    assert(coroutine.resume(coro))
  end
  return coroutine.close(coro)
end


local attacks = {}
-- Cross-sample poisoning.
attacks.pairs_string = function() local _, real = pairs(string) real.upper = function() return "pwned" end end
attacks.pairs_next = function() local nx, real = pairs(string) return nx(real, nil) and rawset(real, "upper", print) end
attacks.pairs_setup = function() local _, real = pairs(G) real.config = { threshold = 100 } end
attacks.pairs_config = function() local _, real = pairs(config) real.threshold = 100 end
attacks.pairs_grpo = function() local _, real = pairs(grpo) real.math_equal = function() return true end end
attacks.G_write = function() G.config = { threshold = 100 } end
attacks.env_explicit = function() for i = 1, 5 do bump_explicit() end return 1 end
attacks.env_default = function() for i = 1, 5 do bump_default() end return 1 end
attacks.env_local = function() for i = 1, 5 do bump_local() end return 1 end
attacks.fake_proxy = function()
  -- A table dressed as a proxy: rawset must still work on it, and it must not pass for one.
  local t = setmetatable({}, { __grpo_readonly = true })
  rawset(t, "x", 1) return t.x
end
-- Hook bypasses: each used to run with no hook at all.
attacks.xpcall_handler = function() xpcall(function() while true do end end, function() while true do end end) end
attacks.xpcall_handler_pcall = function()
  while true do pcall(xpcall, function() while true do end end, function() while true do end end) end
end
attacks.close_after_kill = function()
  local co = coroutine.create(function()
    local x <close> = setmetatable({}, { __close = function() while true do end end })
    while true do end
  end)
  coroutine.resume(co)
  coroutine.close(co)
end
attacks.wrap_close_after_kill = function()
  coroutine.wrap(function()
    local x <close> = setmetatable({}, { __close = function() while true do end end })
    while true do end
  end)()
end
attacks.tbc_spin = function()
  local x <close> = setmetatable({}, { __close = function() while true do end end })
  while true do end
end
attacks.rep_empty = function() return #string.rep("", math.maxinteger) + #(""):rep(1 << 62, "") end
attacks.move_huge = function() table.move({}, 1, math.maxinteger - 1, 2) end
attacks.move_other = function() table.move({}, 1, 1 << 50, 1, {}) end
attacks.insert_len = function() table.insert(setmetatable({}, { __len = function() return 1 << 60 end }), 1, "x") end
attacks.trip_then_move = function()
  -- The hook trips inside the coroutine; the main thread's hook is still 1000 instructions
  -- away when it starts a 2^40-element move.
  coroutine.resume(coroutine.create(function() while true do end end))
  table.move({}, 1, 1 << 40, 2)
end
attacks.trip_then_run_lua = function()
  coroutine.resume(coroutine.create(function() while true do end end))
  return grpo.run_lua("x = 1", { "return true" }).passed
end
attacks.remove_len = function() table.remove(setmetatable({}, { __len = function() return 1 << 60 end }), 1) end
-- Interpreter crashes.
attacks.deep_close = function() assert(deep_close(1000)) end
attacks.deep_close_pcall = function() local ok = pcall(deep_close, 5000) return ok and 1 or 0 end
-- Memory.
attacks.pcall_memory = function() local ok = pcall(string.rep, "x", 1 << 40) return 1 end
attacks.pcall_memory_table = function()
  local ok = pcall(function() local t = {} for i = 1, 1e8 do t[i] = i end end) return 1
end
attacks.json_bomb = function() return #grpo.json_decode("[" .. ("[1,2,3,4],"):rep(1 << 20) .. "0]") end
attacks.huge_error = function() error(("e"):rep(2 << 20)) end
attacks.setup_coroutine = function() end

function reward(s)
  if s.attack then return attacks[s.attack]() end
  local t = {}
  insert(t, "a")
  return {
    score = 1,
    threshold = config.threshold,
    upper_ok = ("x"):upper() == "X" and 1 or 0,
    grpo_ok = grpo.math_equal("1", "2") and 0 or 1,
    bumps = bump_explicit() + 10 * bump_default() + 100 * bump_local(),
    insert_ok = #t,
  }
end
)lua";

json plain() { return json{{"completion", "x"}}; }

void expect_fingerprint(const SampleResult& r) {
  ASSERT_EQ(r.status, ScoreStatus::ok) << r.error;
  EXPECT_EQ(r.score, 1.0);
  EXPECT_EQ(r.metrics.at("threshold"), 1.0) << "setup changed by an earlier sample";
  EXPECT_EQ(r.metrics.at("upper_ok"), 1.0) << "the string library changed by an earlier sample";
  EXPECT_EQ(r.metrics.at("grpo_ok"), 1.0) << "the grpo table changed by an earlier sample";
  EXPECT_EQ(r.metrics.at("bumps"), 111.0) << "an _ENV of a load()-made or local-_ENV function kept state";
  EXPECT_EQ(r.metrics.at("insert_ok"), 1.0);
}

struct Attack {
  const char* name;
  ScoreStatus status;
  const char* message;  // a substring of the recorded error ("" for any)
};

}  // namespace

TEST(SandboxAttacks, EveryAttackIsContainedAndTheNextSampleIsUnchanged) {
  RewardScript script(kScript, "attacks.lua", limits());
  expect_fingerprint(script.score(plain(), 1));
  const Attack attacks[] = {
      {"pairs_string", ScoreStatus::error, "read-only"},
      {"pairs_next", ScoreStatus::error, "read-only"},
      {"pairs_setup", ScoreStatus::error, "read-only"},
      {"pairs_config", ScoreStatus::error, "read-only"},
      {"pairs_grpo", ScoreStatus::error, "read-only"},
      {"G_write", ScoreStatus::error, "read-only"},
      {"env_explicit", ScoreStatus::ok, ""},
      {"env_default", ScoreStatus::ok, ""},
      {"env_local", ScoreStatus::ok, ""},
      {"fake_proxy", ScoreStatus::ok, ""},
      {"xpcall_handler", ScoreStatus::budget, "instruction budget"},
      {"xpcall_handler_pcall", ScoreStatus::budget, "instruction budget"},
      {"close_after_kill", ScoreStatus::budget, "sandbox limit"},
      {"wrap_close_after_kill", ScoreStatus::budget, "instruction budget"},
      {"tbc_spin", ScoreStatus::budget, "instruction budget"},
      {"rep_empty", ScoreStatus::ok, ""},
      {"move_huge", ScoreStatus::budget, "instruction budget"},
      {"move_other", ScoreStatus::budget, "instruction budget"},
      {"insert_len", ScoreStatus::budget, "instruction budget"},
      {"remove_len", ScoreStatus::budget, "instruction budget"},
      {"trip_then_move", ScoreStatus::budget, "instruction budget"},
      {"trip_then_run_lua", ScoreStatus::budget, "instruction budget"},
      {"deep_close", ScoreStatus::error, "nested more than 100 deep"},
      {"deep_close_pcall", ScoreStatus::ok, ""},
      {"pcall_memory", ScoreStatus::memory, "caught a memory error"},
      {"pcall_memory_table", ScoreStatus::memory, "caught a memory error"},
      {"json_bomb", ScoreStatus::memory, ""},
      {"huge_error", ScoreStatus::error, "more bytes of this message cut"},
  };
  for (const auto& a : attacks) {
    SCOPED_TRACE(a.name);
    json s = plain();
    s["attack"] = a.name;
    const auto t0 = std::chrono::steady_clock::now();
    SampleResult r = script.score(s, 1);
    EXPECT_EQ(r.status, a.status) << score_status_name(r.status) << ": " << r.error.substr(0, 2000);
    EXPECT_NE(r.error.find(a.message), std::string::npos) << r.error.substr(0, 2000);
    EXPECT_LE(r.error.size(), kMaxErrorBytes + 64) << "error messages are capped";
    if (r.failed()) EXPECT_EQ(r.score, -1.0);
    // Bounded in process: the 10 s wall clock never had to act (budget 2e6 is milliseconds).
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
    expect_fingerprint(script.score(plain(), 1));
  }
}

TEST(SandboxAttacks, ChargedCLoopsAlsoMeetTheWallClock) {
  ScriptOptions o = limits();
  o.limits.instructions = 1'000'000'000'000'000LL;  // only the clock can stop it
  o.limits.timeout_ms = 200;
  RewardScript script(
      "function reward(s) if s.spin then while true do table.move({}, 1, 1 << 20, 2) end end return 1 end", "m.lua", o);
  SampleResult r = script.score(json{{"spin", true}}, 1);
  EXPECT_EQ(r.status, ScoreStatus::timeout) << r.error;
  EXPECT_EQ(script.score(json::object(), 1).score, 1.0);
}

TEST(SandboxAttacks, BoundedReplacementsKeepTheLibrarySemantics) {
  RewardScript script(R"lua(
    function reward(s)
      local t = { 1, 2, 3 }
      table.insert(t, 4) table.insert(t, 1, 0)
      assert(table.concat(t, ",") == "0,1,2,3,4")
      assert(table.remove(t) == 4 and table.remove(t, 1) == 0 and table.concat(t, ",") == "1,2,3")
      assert(table.remove({}) == nil)
      assert(table.concat(table.move({ 1, 2, 3 }, 1, 3, 2), ",") == "1,1,2,3")
      assert(table.concat(table.move({ 1, 2, 3 }, 2, 3, 1), ",") == "2,3,3")
      local dst = table.move({ 1, 2 }, 1, 2, 2, { 9 })
      assert(table.concat(dst, ",") == "9,1,2")
      assert(("ab"):rep(3) == "ababab" and ("ab"):rep(3, "-") == "ab-ab-ab" and ("x"):rep(0) == "")
      assert(("ab"):rep(1, "-") == "ab" and string.rep("", 3, ",") == ",,")
      assert(not pcall(table.insert, {}, 5, 1), "position out of bounds")
      local ok, a, b = xpcall(function(x) return x, x + 1 end, debug_traceback or tostring, 41)
      assert(ok and a == 41 and b == 42)
      local ok2, msg = xpcall(function() error("boom") end, function(m) return "handled: " .. m end)
      assert(not ok2 and msg:find("handled: ") and msg:find("boom"))
      local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
      assert(gen() == 1 and gen() == 2 and gen() == 3)
      local closed = false
      local co = coroutine.create(function()
        local x <close> = setmetatable({}, { __close = function() closed = true end })
        coroutine.yield()
      end)
      coroutine.resume(co)
      assert(coroutine.close(co) == true and closed)
      local bad = coroutine.wrap(function() error("inner") end)
      local okw, err = pcall(bad)
      assert(not okw and err:find("inner"))
      -- xpcall across a yield inside a coroutine (continuations)
      local co2 = coroutine.wrap(function()
        return xpcall(function() coroutine.yield(1) return 2 end, tostring)
      end)
      assert(co2() == 1)
      local okk, two = co2()
      assert(okk == true and two == 2)
      local keys = 0
      for k in pairs(string) do keys = keys + 1 end
      assert(keys > 10 and string.upper("a") == "A")
      return 1
    end)lua",
                      "semantics.lua", limits());
  SampleResult r = script.score(json::object(), 1);
  EXPECT_EQ(r.status, ScoreStatus::ok) << r.error;
}

TEST(SandboxAttacks, SetupThatKeepsStatefulObjectsIsRefused) {
  for (const char* src :
       {"local co = coroutine.create(function() end) function reward(s) return coroutine.status(co) == 'dead' and 1 or "
        "0 end",
        "local gen = coroutine.wrap(function() coroutine.yield(1) end) function reward(s) return gen() end",
        "local it = ('a b c'):gmatch('%a') function reward(s) return #it() end",
        "T = { co = coroutine.running() } function reward(s) return 1 end"}) {
    SCOPED_TRACE(src);
    try {
      RewardScript script(src, "stateful.lua", limits());
      ADD_FAILURE() << "loaded";
    } catch (const grpo::Error& e) {
      EXPECT_NE(std::string(e.what()).find("carry state"), std::string::npos) << e.what();
    }
  }
}

TEST(SandboxAttacks, PrintsAreCappedPerSample) {
  RewardScript script(R"lua(
    function reward(s)
      local line = ("p"):rep(1000)
      for i = 1, 200 do print(line) end
      local tests = {}
      for i = 1, 50 do tests[i] = "for i = 1, 100 do print(('t'):rep(1000)) end" end
      grpo.run_lua("for i = 1, 100 do print(('s'):rep(1000)) end", tests, { instructions = 1e7, timeout_ms = 10000 })
      return 1
    end)lua",
                      "print.lua", limits());
  char path[] = "/tmp/grpo_print_capXXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::fflush(stderr);
  const int saved = ::dup(2);
  ::dup2(fd, 2);
  SampleResult a = script.score(json::object(), 1);
  SampleResult b = script.score(json::object(), 2);
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  ::close(fd);
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ::unlink(path);
  EXPECT_EQ(a.status, ScoreStatus::ok) << a.error;
  EXPECT_EQ(b.status, ScoreStatus::ok) << b.error;
  // Two samples: 64 KiB each plus one notice line each (the run_lua tests tried ~5 MB).
  EXPECT_LE(text.size(), 2 * (kPrintCapBytes + 100));
  EXPECT_GE(text.size(), 2 * kPrintCapBytes);
}

TEST(SandboxAttacks, JsonDecodeInsideTheCap) {
  RewardScript script(R"lua(
    function reward(s)
      local v = grpo.json_decode(s.text)
      if s.want_error then
        local v2, err = grpo.json_decode(s.text)
        return { score = v2 == nil and err:find("JSON") and 1 or 0 }
      end
      return { score = 1, kind = math.type(v.i) == "integer" and 1 or 0, big = v.big, f = v.f, n = v.list[3],
               hole = v.list[2] == nil and 1 or 0, u = #v.u, deep = v.deep[1][1][1], esc = v.esc == "a\"\\/\b\f\n\r\t" and 1 or 0 }
    end)lua",
                      "json.lua", limits());
  SampleResult r = script.score(
      json{{"text",
            R"({"i": 42, "big": 18446744073709551615, "f": -1.5e3, "list": [1, null, 3], "u": "\u00e9\ud83d\ude00",
                "deep": [[[7]]], "esc": "a\"\\\/\b\f\n\r\t"})"}},
      1);
  ASSERT_EQ(r.status, ScoreStatus::ok) << r.error;
  EXPECT_EQ(r.metrics["kind"], 1.0);
  EXPECT_EQ(r.metrics["big"], 18446744073709551615.0);
  EXPECT_EQ(r.metrics["f"], -1500.0);
  EXPECT_EQ(r.metrics["n"], 3.0);
  EXPECT_EQ(r.metrics["hole"], 1.0);
  EXPECT_EQ(r.metrics["u"], 6.0);  // 2 + 4 UTF-8 bytes
  EXPECT_EQ(r.metrics["deep"], 7.0);
  EXPECT_EQ(r.metrics["esc"], 1.0);
  std::string deep200(200, '['), deep201(201, '[');
  deep200 += std::string(200, ']');
  deep201 += std::string(201, ']');
  for (const std::string& bad : {std::string("{"), std::string("[1,]"), std::string("01"), std::string("\"\\ud800\""),
                                 std::string("[1] x"), std::string(""), deep201}) {
    SCOPED_TRACE(bad.substr(0, 20));
    EXPECT_EQ(script.score(json{{"text", bad}, {"want_error", true}}, 1).score, 1.0);
  }
  RewardScript depth("function reward(s) local v = grpo.json_decode(s.text) return v and 1 or 0 end", "d.lua",
                     limits());
  EXPECT_EQ(depth.score(json{{"text", deep200}}, 1).score, 1.0);  // 200 nested arrays: the limit
}

TEST(SandboxAttacks, ReplaceAllIsLinear) {
  // Millions of matches: the old in-place replace moved the tail once per match (hours here).
  std::string text;
  for (int i = 0; i < (1 << 20); ++i) text += "\\,\\!";
  text += "x";
  EXPECT_EQ(normalize_answer_text(text), "x");
  EXPECT_FALSE(math_equal(text, "y"));
  EXPECT_TRUE(math_equal(text, "\\left x"));
}
