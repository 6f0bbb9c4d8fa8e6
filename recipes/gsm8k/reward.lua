-- GSM8K / MATH reward: 1 when the final answer equals the row's `answer` (GSM8K's "#### 42"
-- solutions are accepted as the row's answer too), plus a small bonus for closing </think>.
-- The final answer is read from \boxed{} or, failing that, from "#### N" after the reasoning.
local FORMAT_BONUS = 0.1

local function reference(sample)
  local a = sample.answer
  if type(a) ~= "string" then return nil end
  return grpo.after_hashes(a) or a
end

function reward(sample)
  local want = reference(sample)
  if want == nil then return nil end  -- a row without an answer is not applicable
  local text = grpo.after_think(sample.completion) or sample.completion
  local got = grpo.boxed(text) or grpo.after_hashes(text)
  local correct = got ~= nil and grpo.math_equal(got, want)
  local format = grpo.after_think(sample.completion) ~= nil
  return {
    score = (correct and 1 or 0) + (format and FORMAT_BONUS or 0),
    correct = correct and 1 or 0,
    format = format and 1 or 0,
  }
end
