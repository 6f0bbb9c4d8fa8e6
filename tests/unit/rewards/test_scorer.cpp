// The worker pool: scores match the in-process path, and a worker stuck inside a C function
// (where no hook fires) is killed at the deadline and respawned while the batch goes on.
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/sha256.h"
#include "rewards/scorer.h"

using namespace grpo::rewards;
using grpo::sha256_hex;
using nlohmann::json;

namespace {

const char* kMath = R"lua(
function reward(s)
  if s.attack == "pattern" then
    -- O(n^4) backtracking inside one string.find call: the count hook never fires (spec §1.6).
    return ("a"):rep(400):find(".-.-.-.-b") and 1 or 0
  end
  if s.attack == "loop" then while true do end end
  local got = grpo.boxed(s.completion) or grpo.last_number(s.completion)
  return { score = (got and grpo.math_equal(got, s.answer)) and 1 or 0, format = grpo.boxed(s.completion) and 1 or 0 }
end
)lua";

ScorerOptions options(int workers) {
  ScorerOptions o;
  o.workers = workers;
  o.script.limits.timeout_ms = 300;
  o.script.limits.instructions = 5'000'000;
  o.script.fallback = -1;
  o.kill_grace_ms = 200;
  o.pipeline = 4;
  return o;
}

std::vector<SampleGroup> math_groups(int groups, int size) {
  std::vector<SampleGroup> out;
  for (int g = 0; g < groups; ++g) {
    SampleGroup group;
    for (int s = 0; s < size; ++s) {
      int guess = g + (s % 2);  // odd samples are wrong
      group.push_back({{"prompt", "what is " + std::to_string(g)},
                       {"completion", s % 3 == 0 ? "\\boxed{" + std::to_string(guess) + "}" : std::to_string(guess)},
                       {"answer", std::to_string(g)}});
    }
    out.push_back(group);
  }
  return out;
}

}  // namespace

TEST(Scorer, PoolMatchesInProcess) {
  auto groups = math_groups(7, 5);
  Scorer inproc(kMath, "math.lua", options(0));
  Scorer pool(kMath, "math.lua", options(2));
  ScoredBatch a = inproc.score(groups), b = pool.score(groups);
  EXPECT_EQ(a.script_sha256, sha256_hex(kMath));
  EXPECT_EQ(b.script_sha256, a.script_sha256);
  ASSERT_EQ(b.groups.size(), groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    ASSERT_EQ(b.groups[g].size(), groups[g].size());
    for (size_t s = 0; s < groups[g].size(); ++s) {
      EXPECT_EQ(b.groups[g][s].status, ScoreStatus::ok) << b.groups[g][s].error;
      EXPECT_EQ(b.groups[g][s].score, s % 2 == 0 ? 1.0 : 0.0);
      EXPECT_EQ(b.groups[g][s].score, a.groups[g][s].score);
      EXPECT_EQ(b.groups[g][s].metrics, a.groups[g][s].metrics);
    }
  }
  EXPECT_EQ(pool.stats().samples, 35);
  EXPECT_EQ(pool.stats().failures, 0);
}

TEST(Scorer, PathologicalPatternIsKilledAndTheBatchGoesOn) {
  Scorer pool(kMath, "math.lua", options(1));
  auto groups = math_groups(3, 4);
  groups[1][1]["attack"] = "pattern";  // in the middle: samples queued behind it must be rescored
  groups[2][0]["attack"] = "loop";     // pure Lua: the hook stops it, no kill needed
  ScoredBatch b = pool.score(groups);
  const SampleResult& killed = b.groups[1][1];
  EXPECT_EQ(killed.status, ScoreStatus::timeout) << killed.error;
  EXPECT_EQ(killed.score, -1.0);
  EXPECT_NE(killed.error.find("killed"), std::string::npos) << killed.error;
  EXPECT_EQ(b.groups[2][0].status, ScoreStatus::budget) << b.groups[2][0].error;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t s = 0; s < groups[g].size(); ++s) {
      if ((g == 1 && s == 1) || (g == 2 && s == 0)) continue;
      EXPECT_EQ(b.groups[g][s].status, ScoreStatus::ok) << g << "," << s << ": " << b.groups[g][s].error;
      EXPECT_EQ(b.groups[g][s].score, s % 2 == 0 ? 1.0 : 0.0) << g << "," << s;
    }
  EXPECT_EQ(pool.stats().workers_killed, 1);
  EXPECT_EQ(pool.stats().failures, 2);
  // The respawned worker keeps scoring.
  ScoredBatch again = pool.score(math_groups(1, 2));
  EXPECT_EQ(again.groups[0][0].score, 1.0);
}

TEST(Scorer, GroupScriptsRunWholeGroupsInTheWorkers) {
  const char* src = R"lua(
    function reward_group(samples)
      local out = {}
      for i, s in ipairs(samples) do out[i] = s.index * 10 + #samples end
      return out
    end)lua";
  Scorer pool(src, "group.lua", options(2));
  ScoredBatch b = pool.score({{json::object(), json::object()}, {json::object(), json::object(), json::object()}});
  EXPECT_EQ(b.groups[0][0].score, 12.0);
  EXPECT_EQ(b.groups[0][1].score, 22.0);
  EXPECT_EQ(b.groups[1][2].score, 33.0);
}

TEST(Scorer, ScriptThatDoesNotLoadThrowsBeforeForking) {
  EXPECT_THROW(Scorer("function reward(", "bad.lua", options(2)), grpo::Error);
}

TEST(Scorer, SamplesCrossTheWorkerSocketIntact) {
  // Every JSON type through the wire encoding (wire.h) into Lua in the worker.
  const char* src = R"lua(
    function reward(s)
      assert(s.text == "caf\u{e9} \0 nul", "string with UTF-8 and NUL")
      assert(s.big == 9007199254740993 and math.type(s.big) == "integer", "int64")
      assert(s.neg == -3 and s.half == 0.5 and s.yes == true and s.no == false and s.none == nil, "scalars")
      assert(#s.list == 3 and s.list[3].deep[1] == "x", "nested arrays and objects")
      assert(next(s.empty_obj) == nil and #s.empty_list == 0, "empty containers")
      return { score = s.index, len = #s.text }
    end)lua";
  Scorer pool(src, "wire.lua", options(1));
  json sample = {{"text", std::string("caf\xc3\xa9 \0 nul", 11)},
                 {"big", 9007199254740993LL},
                 {"neg", -3},
                 {"half", 0.5},
                 {"yes", true},
                 {"no", false},
                 {"none", nullptr},
                 {"list", {1, "two", {{"deep", {"x"}}}}},
                 {"empty_obj", json::object()},
                 {"empty_list", json::array()}};
  ScoredBatch b = pool.score({{sample, sample}});
  ASSERT_EQ(b.groups[0][1].status, ScoreStatus::ok) << b.groups[0][1].error;
  EXPECT_EQ(b.groups[0][0].score, 1.0);
  EXPECT_EQ(b.groups[0][1].score, 2.0);
  EXPECT_EQ(b.groups[0][1].metrics.at("len"), 11.0);
}

namespace {

// A value nested `levels` containers deep (built by moves: copying it would recurse).
json nested(int levels) {
  json v = 1;
  for (int i = 0; i < levels; ++i) {
    json a = json::array();
    a.push_back(std::move(v));
    v = std::move(a);
  }
  return v;
}

const char* kCount = "function reward(s) return s.n end";

}  // namespace

TEST(Scorer, HostileRowsGetAPerRowErrorAndTheRestAreScored) {
  for (int workers : {0, 1}) {
    SCOPED_TRACE(workers);
    Scorer scorer(kCount, "count.lua", options(workers));
    // Rows: fine, within the limit (the sample object + 199 arrays = 200 levels), one level
    // past it, 300 levels, 100,000 levels (used to overflow the C stack of `grpo reward`).
    const int depths[] = {0, 199, 200, 300, 100000};
    std::vector<SampleGroup> groups(std::size(depths));
    for (size_t g = 0; g < std::size(depths); ++g) {
      for (int s = 0; s < 2; ++s) {
        json sample = {{"n", static_cast<int>(g * 10 + s)}};
        if (depths[g] > 0) sample["deep"] = nested(depths[g]);
        groups[g].push_back(std::move(sample));
      }
    }
    ScoredBatch b = scorer.score(groups);
    for (size_t g = 0; g < groups.size(); ++g)
      for (int s = 0; s < 2; ++s) {
        const SampleResult& r = b.groups[g][static_cast<size_t>(s)];
        if (depths[g] < 200) {
          EXPECT_EQ(r.status, ScoreStatus::ok) << g << ": " << r.error;
          EXPECT_EQ(r.score, static_cast<double>(g * 10 + s));
        } else {
          EXPECT_EQ(r.status, ScoreStatus::error) << g;
          EXPECT_EQ(r.score, -1.0);
          EXPECT_NE(r.error.find("deeper than 200 levels"), std::string::npos) << r.error;
        }
      }
    EXPECT_EQ(scorer.stats().workers_crashed, 0);
    EXPECT_EQ(scorer.stats().workers_killed, 0);
    // The same scorer goes on scoring.
    std::vector<SampleGroup> next(1);
    next[0].push_back(json{{"n", 7}});
    EXPECT_EQ(scorer.score(next).groups[0][0].score, 7.0);
  }
}

TEST(Scorer, GroupScriptsRefuseAHostileRowAsAGroup) {
  Scorer pool("function reward_group(ss) local o = {} for i, s in ipairs(ss) do o[i] = s.n end return o end", "g.lua",
              options(1));
  std::vector<SampleGroup> groups(2);
  groups[0].push_back(json{{"n", 1}});
  json bad = {{"n", 2}};
  bad["deep"] = nested(500);
  groups[1].push_back(std::move(bad));
  groups[1].push_back(json{{"n", 3}});
  ScoredBatch b = pool.score(groups);
  EXPECT_EQ(b.groups[0][0].score, 1.0);
  EXPECT_EQ(b.groups[1][0].status, ScoreStatus::error);
  EXPECT_EQ(b.groups[1][1].status, ScoreStatus::error);
  EXPECT_NE(b.groups[1][1].error.find("deeper than 200 levels"), std::string::npos) << b.groups[1][1].error;
  EXPECT_EQ(pool.stats().workers_crashed, 0);
}

TEST(Scorer, HookBypassesEndInProcessWithoutAKill) {
  // Each of these used to run with no hook and end only when the parent killed the worker.
  const char* src = R"lua(
    local a = {}
    a.xpcall = function() xpcall(function() while true do end end, function() while true do end end) end
    a.close = function()
      local co = coroutine.create(function()
        local x <close> = setmetatable({}, { __close = function() while true do end end })
        while true do end
      end)
      coroutine.resume(co)
      coroutine.close(co)
    end
    a.rep = function() return #string.rep("", math.maxinteger) end
    a.move = function() table.move({}, 1, math.maxinteger - 1, 2) end
    function reward(s) if s.attack then return a[s.attack]() end return 1 end
  )lua";
  ScorerOptions o = options(1);
  o.script.limits.timeout_ms = 2000;
  o.kill_grace_ms = 1000;
  Scorer pool(src, "bypass.lua", o);
  std::vector<SampleGroup> groups(1);
  for (const char* attack : {"xpcall", "close", "rep", "move"}) groups[0].push_back(json{{"attack", attack}});
  groups[0].push_back(json::object());
  ScoredBatch b = pool.score(groups);
  EXPECT_EQ(b.groups[0][0].status, ScoreStatus::budget) << b.groups[0][0].error;
  EXPECT_EQ(b.groups[0][1].status, ScoreStatus::budget) << b.groups[0][1].error;
  EXPECT_EQ(b.groups[0][2].status, ScoreStatus::ok) << b.groups[0][2].error;
  EXPECT_EQ(b.groups[0][2].score, 0.0);
  EXPECT_EQ(b.groups[0][3].status, ScoreStatus::budget) << b.groups[0][3].error;
  EXPECT_EQ(b.groups[0][4].score, 1.0);
  EXPECT_EQ(pool.stats().workers_killed, 0);
  EXPECT_EQ(pool.stats().workers_crashed, 0);
}
