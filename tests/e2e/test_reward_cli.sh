#!/usr/bin/env bash
# `grpo reward` as a user runs it to test a script: the math recipe's reward on good, wrong and
# malformed completions, a hostile script that must not take the run down, and bad input files.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat > "$work/data.jsonl" <<'JSONL'
{"prompt": "2+3?", "answer": "5", "completion": "<think>2 + 3 = 5.</think>\nThe answer is \\boxed{5}."}
{"prompt": "2+3?", "answer": "5", "completion": "<think>2 + 3 = 6.</think>\nThe answer is \\boxed{6}."}
{"prompt": "2+3?", "answer": "5", "completion": "The answer is \\boxed{5}"}
{"prompt": "half?", "answer": "0.5", "completion": "<think>1/2</think> \\boxed{\\frac{1}{2}}"}
JSONL
out="$("$GRPO" reward "$SRC/recipes/math/reward.lua" "$work/data.jsonl" --json 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "math reward exit code $rc: $out"
scores="$(grep -o '"score":[^,}]*' <<<"$out" | cut -d: -f2 | awk '{printf "%g ", $1}')"
[ "$scores" = "1.1 0.1 1 1.1 " ] && ok || bad "math reward scores '$scores' (want 1.1 0.1 1 1.1)"
grep -q '"summary"' <<<"$out" && ok || bad "no summary line"

# A hostile script: rows 1-3 form one group (same prompt), row 4 another; index 1 loops forever and
# index 2 reaches for io. Each failure is recorded with its status and the other samples score.
cat > "$work/evil.lua" <<'LUA'
function reward(sample)
  if sample.index == 1 then while true do end end
  if sample.index == 2 then return io.open("/etc/passwd") end
  return 0.5
end
LUA
out="$("$GRPO" reward "$work/evil.lua" "$work/data.jsonl" --json --timeout-ms 500 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "hostile script exit code $rc"
statuses="$(grep -o '"status":"[a-z_]*"' <<<"$out" | cut -d'"' -f4 | tr '\n' ' ')"
[ "$statuses" = "budget error ok budget " ] && ok || bad "hostile script statuses '$statuses' (want budget error ok budget)"
grep -q "global 'io'" <<<"$out" && ok || bad "the io failure is not reported"

# Bad inputs: one clear line, non-zero exit.
"$GRPO" reward "$work/missing.lua" "$work/data.jsonl" >/dev/null 2>&1 && bad "missing script accepted" || ok
echo 'function reward(s) return' > "$work/broken.lua"
msg="$("$GRPO" reward "$work/broken.lua" "$work/data.jsonl" 2>&1)" && bad "broken script accepted" || ok
grep -q "broken.lua" <<<"$msg" && ok || bad "load error does not name the script: $msg"
echo '{not json' > "$work/bad.jsonl"
msg="$("$GRPO" reward "$SRC/recipes/math/reward.lua" "$work/bad.jsonl" 2>&1)" && bad "bad JSONL accepted" || ok
grep -q "bad.jsonl: line 1" <<<"$msg" && ok || bad "JSONL error does not name file and line: $msg"

finish
