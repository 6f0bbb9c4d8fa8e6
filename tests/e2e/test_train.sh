#!/usr/bin/env bash
# `grpo train` end to end on a tiny random checkpoint: rollouts, Lua rewards, GRPO updates,
# metrics, checkpoints (keep_last honoured) that load again; bad recipes stop with the key named.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$GRPO" init --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/base" --seed 2 >/dev/null 2>&1 || bad "init failed"
for i in 0 1 2 3 4 5; do echo "{\"tokens\": [0, $((10 + i)), $((20 + i))]}"; done > "$work/train.jsonl"
# Without a tokenizer the script sees the completion as space-separated ids: reward the share of
# ids below 256 (half the vocabulary), a signal GRPO can follow.
cat > "$work/reward.lua" <<'LUA'
function reward(sample)
  local low, n = 0, 0
  for id in sample.completion:gmatch("%d+") do
    n = n + 1
    if tonumber(id) < 256 then low = low + 1 end
  end
  if n == 0 then return nil end
  return { score = low / n, tokens = n }
end
LUA
cat > "$work/recipe.json" <<JSON
{ "name": "tiny",
  "model": { "init": "base" },
  "data": { "train": "train.jsonl" },
  "reward": { "script": "reward.lua", "workers": 1 },
  "rollout": { "group_size": 4, "prompts_per_step": 3, "max_new_tokens": 6 },
  "algorithm": { "preset": "dapo" },
  "optim": { "lr": 1e-3, "micro_batch_tokens": 64 },
  "train": { "steps": 4, "save_every": 1, "keep_last": 2, "run_dir": "run", "seed": 3 } }
JSON
log="$("$GRPO" train "$work/recipe.json" 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "train exit code $rc: $(tail -5 <<<"$log")"
[ "$(wc -l < "$work/run/metrics.jsonl")" = 4 ] && ok || bad "metrics.jsonl should have 4 steps"
python3 - "$work/run/metrics.jsonl" <<'PY' && ok || bad "metrics lack the expected keys"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
need = {"reward/mean", "reward/tokens", "loss", "kl", "clip_fraction", "grad_norm", "lr", "response_length/mean"}
assert all(need <= set(r) for r in rows), [need - set(r) for r in rows]
assert all(0.0 <= r["reward/mean"] <= 1.0 for r in rows)
PY
ls "$work/run/tb/" | grep -q "events.out.tfevents" && ok || bad "no TensorBoard events"
[ "$(ls "$work/run/checkpoints")" = "$(printf 'step-3\nstep-4')" ] && ok || bad "keep_last 2: $(ls "$work/run/checkpoints" | tr '\n' ' ')"
[ -f "$work/run/config.json" ] && grep -q '"preset": "dapo"' "$work/run/config.json" && ok || bad "resolved config not saved"
# Every scored group went through the write-ahead log before training: 4 steps × 3 prompts,
# with the script's hash, the seed and the weight version. It is an audit log: no cursor.
python3 - "$work/run" <<'PY' && ok || bad "trajectory log is wrong"
import struct, sys
data = open(sys.argv[1] + "/trajectories.wal", "rb").read()
n, off = 0, 0
while off < len(data):
    length, _crc = struct.unpack_from("<II", data, off)
    off += 8 + length
    n += 1
assert off == len(data) and n == 12, (n, off, len(data))
import os
assert not os.path.exists(sys.argv[1] + "/trajectories.cursor")
PY
echo '{"tokens": [0, 10, 20, 30]}' > "$work/probe.jsonl"
"$GRPO" logprobs "$work/run/checkpoints/step-4" --input "$work/probe.jsonl" >/dev/null 2>&1 && ok || bad "final checkpoint does not load"

sed 's/"group_size": 4/"group_sise": 4/' "$work/recipe.json" > "$work/bad.json"
msg="$("$GRPO" train "$work/bad.json" 2>&1)" && bad "typo in a key accepted" || ok
grep -q "rollout.group_sise: unknown key" <<<"$msg" && ok || bad "typo not named: $msg"
finish
