# Shared by the e2e tests (sourced): the program under test, a scratch folder removed on exit,
# and pass/fail counting that ends with the 'N passed, N failed' line.
GRPO="${GRPO:-build/grpo}"
SRC="${GRPO_SOURCE_DIR:-.}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }

# tiny_setup N: a random tiny checkpoint in $work/base, N token prompts in $work/train.jsonl and a
# reward script that pays the share of completion ids below 256 (half the vocabulary), a signal
# GRPO can follow. Without a tokenizer the script sees the completion as space-separated ids.
tiny_setup() {
  "$GRPO" init --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/base" --seed 2 >/dev/null 2>&1 || bad "init failed"
  for ((i = 0; i < $1; i++)); do echo "{\"tokens\": [0, $((10 + i)), $((20 + i))]}"; done > "$work/train.jsonl"
  cat > "$work/reward.lua" <<'LUA'
function reward(sample)
  local low, n = 0, 0
  for id in sample.completion:gmatch("%d+") do
    n = n + 1
    if tonumber(id) < 256 then low = low + 1 end
  end
  if n == 0 then return nil end
  return low / n
end
LUA
}
