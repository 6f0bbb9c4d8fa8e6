#!/usr/bin/env bash
# `grpo train` recipe keys beyond the loss: train.ref_refresh_every (the KL reference follows the
# policy), train.bias_update_speed (MoE routing biases move after each step; load balance is
# logged) and train.mtp_loss_coef (the MTP head trains; its loss and accuracy are logged).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMP_NUM_THREADS=1

"$GRPO" init --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/base" --seed 4 >/dev/null 2>&1 || bad "init failed"
for i in 0 1 2 3; do echo "{\"tokens\": [0, $((10 + i)), $((20 + i))]}"; done > "$work/train.jsonl"
echo 'function reward(s) local n = 0 for id in s.completion:gmatch("%d+") do if tonumber(id) < 256 then n = n + 1 end end return n end' \
  > "$work/reward.lua"
run() {  # $1: name, $2: train keys (JSON members)
  cat > "$work/$1.json" <<JSON
{ "model": { "init": "base" }, "data": { "train": "train.jsonl" }, "reward": { "script": "reward.lua" },
  "rollout": { "group_size": 4, "prompts_per_step": 2, "max_new_tokens": 5 },
  "algorithm": { "preset": "grpo", "kl_coef": 0.1 }, "optim": { "lr": 5e-3 },
  "train": { "steps": 3, "save_every": 0, "run_dir": "$1", $2 } }
JSON
  "$GRPO" train "$work/$1.json" >/dev/null 2>"$work/$1.log" || bad "$1: train failed: $(tail -3 "$work/$1.log")"
}
col() { python3 -c "import json,sys; print(' '.join(str(json.loads(l).get(sys.argv[2])) for l in open(sys.argv[1])))" "$work/$1/metrics.jsonl" "$2"; }

# Refreshed after every step with one update per batch, the reference equals the policy the loss
# is computed with, so the KL estimate is exactly 0 every step; never refreshed, it grows from 0.
run refresh '"ref_refresh_every": 1, "bias_update_speed": 0'
[ "$(col refresh kl)" = "0.0 0.0 0.0" ] && ok || bad "kl with ref_refresh_every 1: $(col refresh kl)"
[ "$(col refresh ref/step)" = "0.0 1.0 2.0" ] && ok || bad "ref/step: $(col refresh ref/step)"
run frozen '"ref_refresh_every": 0, "bias_update_speed": 0'
python3 -c "import sys; k = [float(x) for x in sys.argv[1:]]; sys.exit(not (k[0] == 0 and k[2] > 0))" $(col frozen kl) \
  && ok || bad "kl with a frozen reference: $(col frozen kl)"

# Routing biases: zero at init; moved by the update (|b| = a multiple of γ up to the steps taken), untouched at γ = 0.
biases() {  # max |e_score_correction_bias| in a checkpoint, read straight from the safetensors bytes
  python3 - "$1/model.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack_from("<Q", data)[0]
header = json.loads(data[8:8 + n])
vals = []
for name, t in header.items():
    if name.endswith("e_score_correction_bias"):
        a, b = t["data_offsets"]
        vals += struct.unpack_from("<%df" % ((b - a) // 4), data, 8 + n + a)
print(max(abs(v) for v in vals))
PY
}
[ "$(biases "$work/frozen/checkpoints/step-3")" = "0.0" ] && ok || bad "biases moved with bias_update_speed 0"
run balanced '"bias_update_speed": 0.01, "mtp_loss_coef": 0.2'
python3 -c "import sys; b = float(sys.argv[1]); sys.exit(not (0.0099 < b < 0.0301))" "$(biases "$work/balanced/checkpoints/step-3")" \
  && ok || bad "biases after 3 steps at γ 0.01: $(biases "$work/balanced/checkpoints/step-3")"
python3 - "$work/balanced/metrics.jsonl" <<'PY' && ok || bad "balance / MTP metrics missing or out of range"
import json, sys
for r in map(json.loads, open(sys.argv[1])):
    assert r["moe/load_max_over_mean"] >= 1.0 and r["moe/load_cv"] >= 0.0, r
    assert r["mtp/loss"] > 0 and 0.0 <= r["mtp/accuracy"] <= 1.0, r
    assert r["throughput/train_tokens_per_s"] > 0 and r["throughput/rollout_tokens_per_s"] > 0, r
PY
[ "$(col frozen mtp/loss)" = "None None None" ] && ok || bad "mtp/loss logged with mtp_loss_coef 0"
finish
