-- A reward GRPO can follow on a random tiny model (tests only): the share of completion ids below
-- 256, half the vocabulary. Without a tokenizer the script sees the completion as space-separated ids.
function reward(sample)
  local low, n = 0, 0
  for id in sample.completion:gmatch("%d+") do
    n = n + 1
    if tonumber(id) < 256 then low = low + 1 end
  end
  if n == 0 then return nil end
  return low / n
end
