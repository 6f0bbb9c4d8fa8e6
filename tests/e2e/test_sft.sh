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

# The recipe form: model.config, sft.* and train.seed from recipe.json (paths relative to it).
cat > "$work/recipe.json" <<JSON
{ "name": "sft-recipe", "model": { "config": "$SRC/model/configs/tiny_direct_q.json" },
  "data": { "train": "data.jsonl" }, "reward": { "script": "unused.lua" },
  "sft": { "data": "data.jsonl", "out": "from-recipe", "steps": 30, "batch": 2, "lr": 3e-3, "warmup_steps": 0 },
  "train": { "seed": 3 } }
JSON
log="$("$GRPO" sft "$work/recipe.json" 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "sft RECIPE exit code $rc: $log"
[ "$(wc -l < "$work/from-recipe/metrics.jsonl")" = 30 ] && [ -f "$work/from-recipe/model.safetensors" ] && ok \
  || bad "sft RECIPE did not write 30 steps and a checkpoint to sft.out"
first="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/from-recipe/metrics.jsonl" | head -1 | cut -d: -f2)"
last="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/from-recipe/metrics.jsonl" | tail -1 | cut -d: -f2)"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.2 * a) }' && ok || bad "recipe SFT loss did not fall: first $first, last $last"
# Not a terminal here: plain progress lines (no carriage returns), the last one for step 30.
grep -q "^sft 30/30  loss" <<<"$log" && ! grep -q $'\r' <<<"$log" && ok || bad "progress lines: $log"
# --epochs: ceil(3 epochs × 2 rows / batch 2) = 3 steps; flags override sft.out.
"$GRPO" sft "$work/recipe.json" --epochs 3 --out "$work/epochs" >/dev/null 2>&1 && [ "$(wc -l < "$work/epochs/metrics.jsonl")" = 3 ] \
  && ok || bad "--epochs 3 should give 3 steps"
sed 's/"data": "data.jsonl", //' "$work/recipe.json" > "$work/nodata.json"
msg="$("$GRPO" sft "$work/nodata.json" 2>&1)" && bad "recipe without sft.data accepted" || ok
grep -q "sft.data" <<<"$msg" && ok || bad "error does not name sft.data: $msg"

# EOS: completions without the model's EOS (id 1 in tiny_direct_q) get it appended, so the SFT'ed
# model learns to stop after them; --no-eos trains on the rows as given and never sees the stop.
cat > "$work/noeos.jsonl" <<'JSONL'
{"prompt_tokens": [0, 10, 11], "completion_tokens": [20, 21, 22]}
{"prompt_tokens": [0, 12, 13], "completion_tokens": [30, 31]}
JSONL
echo '{"tokens": [0, 12, 13, 30, 31, 1]}' > "$work/stop.jsonl"
eos_logprob() {  # log-prob of the EOS after the completion 30 31
  "$GRPO" logprobs "$1" --input "$work/stop.jsonl" 2>/dev/null | tail -1 | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["logprobs"][-1])'
}
for mode in eos no-eos; do
  flag=""; [ "$mode" = no-eos ] && flag="--no-eos"
  log="$("$GRPO" sft --data "$work/noeos.jsonl" --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/$mode" \
          --steps 30 --batch 2 --lr 3e-3 --seed 3 $flag 2>&1)" || bad "sft $mode failed: $log"
  lp="$(eos_logprob "$work/$mode")"
  if [ "$mode" = eos ]; then
    grep -q "(EOS appended)" <<<"$log" && ok || bad "sft does not say it appends EOS: $log"
    awk -v x="$lp" 'BEGIN { exit !(x > log(0.5)) }' && ok || bad "EOS not learned after the completion: log-prob $lp"
  else
    ! grep -q "(EOS appended)" <<<"$log" && ok || bad "--no-eos still appends EOS: $log"
    awk -v x="$lp" 'BEGIN { exit !(x < log(0.1)) }' && ok || bad "--no-eos: EOS should stay unlikely, log-prob $lp"
  fi
done

# BF16 matmuls (FP32 master weights): the same memorisation, and the run says which precision.
log="$("$GRPO" sft --data "$work/data.jsonl" --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/bf16" \
        --steps 30 --batch 2 --lr 3e-3 --seed 3 --precision bf16 2>&1)" && grep -q ", bf16" <<<"$log" && ok \
  || bad "sft --precision bf16: $log"
first="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/bf16/metrics.jsonl" | head -1 | cut -d: -f2)"
last="$(grep -o '"sft/loss":[0-9.e+-]*' "$work/bf16/metrics.jsonl" | tail -1 | cut -d: -f2)"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.2 * a) }' && ok || bad "bf16 loss did not fall: first $first, last $last"
msg="$("$GRPO" sft --data "$work/data.jsonl" --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/x" --precision fp16 2>&1)" \
  && bad "--precision fp16 accepted" || ok

finish
