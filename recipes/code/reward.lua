-- Code recipe reward: run the ```lua block of the completion against the task's hidden tests in
-- a nested sandbox. Score = fraction of tests passed, plus a bonus when all pass; `correct`
-- (all tests pass) is what `grpo eval` counts. The tests run where the solution cannot reach
-- (docs/lua_sandbox.md, "grpo.run_lua"); only the counts run_lua returns are read here.
local ALL_PASS_BONUS = 0.5

function reward(sample)
  local text = grpo.after_think(sample.completion) or sample.completion
  local code = text:match("```lua\n(.-)```")
  if code == nil then
    return { score = 0, correct = 0, passed = 0, format = 0 }
  end
  local result = grpo.run_lua(code, sample.tests, { instructions = 1000000, timeout_ms = 500 })
  if result.total == 0 then error("the dataset row has no tests") end
  local fraction = result.passed / result.total
  local all = result.passed == result.total
  return {
    score = fraction + (all and ALL_PASS_BONUS or 0),
    correct = all and 1 or 0,
    passed = fraction,
    format = 1,
  }
end
