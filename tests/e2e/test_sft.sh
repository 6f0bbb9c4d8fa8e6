#!/usr/bin/env bash
# `grpo sft` from scratch on a tiny config: the loss falls, the checkpoint it writes loads in
# `grpo logprobs`, and the memorised completion becomes likely. Bad input gives one clear line.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cat > "$work/data.jsonl" <<'JSONL'
{"prompt_tokens": [0, 10, 11], "completion_tokens": [20, 21, 22, 1]}
{"prompt_tokens": [0, 12, 13], "completion_tokens": [30, 31, 1]}
JSONL
log="$("$GRPO" sft --data "$work/data.jsonl" --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/ckpt" \
        --steps 30 --batch 2 --lr 3e-3 --seed 3 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "sft exit code $rc: $log"
first="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/ckpt/metrics.jsonl" | head -1 | cut -d: -f2)"
last="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/ckpt/metrics.jsonl" | tail -1 | cut -d: -f2)"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.2 * a) }' && ok || bad "loss did not fall: first $first, last $last"
[ -f "$work/ckpt/config.json" ] && [ -f "$work/ckpt/model.safetensors" ] && ok || bad "no checkpoint written"

# The memorised completion is now likely: mean log-prob of its tokens above log(0.5).
echo '{"tokens": [0, 10, 11, 20, 21, 22, 1]}' > "$work/probe.jsonl"
out="$("$GRPO" logprobs "$work/ckpt" --input "$work/probe.jsonl" 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "logprobs on the SFT checkpoint failed: $out"
python3 - "$out" <<'PY' && ok || bad "memorised completion not likely: $out"
import json, math, sys
row = json.loads(sys.argv[1].strip().splitlines()[-1])
completion = row["logprobs"][2:]          # predictions of tokens 20, 21, 22, 1
sys.exit(0 if sum(completion) / len(completion) > math.log(0.5) else 1)
PY

# Bad input: one line naming the problem, non-zero exit.
echo '{"prompt_tokens": [0, 99999], "completion_tokens": [1]}' > "$work/bad.jsonl"
msg="$("$GRPO" sft --data "$work/bad.jsonl" --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/x" 2>&1)" \
  && bad "out-of-vocabulary id accepted" || ok
grep -q "bad.jsonl: line 1" <<<"$msg" && grep -q "99999" <<<"$msg" && ok || bad "error does not name file, line and id: $msg"
msg="$("$GRPO" sft --data "$work/data.jsonl" --out "$work/x" 2>&1)" && bad "missing --init/--config accepted" || ok
grep -q "\-\-init" <<<"$msg" && ok || bad "usage error unclear: $msg"

finish
