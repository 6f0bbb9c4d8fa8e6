-- Math recipe reward: 1 for the right \boxed{} answer (exact rational comparison), plus a
-- small bonus for the <think>…</think> format. Both parts are logged as metrics.
local FORMAT_BONUS = 0.1

function reward(sample)
  local text = sample.completion
  local answer = grpo.boxed(grpo.after_think(text) or text)
  local correct = answer ~= nil and grpo.math_equal(answer, sample.answer)
  local format = grpo.think_format(text)
  return {
    score = (correct and 1 or 0) + (format and FORMAT_BONUS or 0),
    correct = correct and 1 or 0,
    format = format and 1 or 0,
  }
end
