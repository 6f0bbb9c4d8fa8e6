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
