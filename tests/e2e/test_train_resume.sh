#!/usr/bin/env bash
# `grpo train --resume`: a run killed from outside (SIGKILL) right after checkpoint step-2, at
# whatever instant of step 3 or 4 the kill lands, and resumed ends with weights bit-identical to a
# run never interrupted (CPU, fixed threads), with no step twice in metrics.jsonl; a checkpoint cut short is named, skipped, and
# the previous one used. The recipe exercises every piece of trainer state: AdamW with several
# updates per batch, a KL reference refreshed mid-run, the MoE bias update and the MTP loss.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMP_NUM_THREADS=2 MKL_NUM_THREADS=2  # the same fixed thread count for every run

tiny_setup 5
recipe() {  # $1: run folder name
  cat > "$work/$1.json" <<JSON
{ "name": "resume",
  "model": { "init": "base" },
  "data": { "train": "train.jsonl" },
  "reward": { "script": "reward.lua" },
  "rollout": { "group_size": 3, "prompts_per_step": 2, "max_new_tokens": 5 },
  "algorithm": { "preset": "grpo", "kl_coef": 0.05 },
  "optim": { "lr": 2e-3, "updates_per_batch": 2, "micro_batch_tokens": 32, "schedule": "cosine", "warmup_steps": 1 },
  "train": { "steps": 4, "save_every": 2, "keep_last": 3, "run_dir": "$1", "seed": 5,
             "ref_refresh_every": 3, "mtp_loss_coef": 0.1, "bias_update_speed": 0.01 } }
JSON
}
recipe a; recipe b

# A: uninterrupted.
log="$("$GRPO" train "$work/a.json" 2>&1)" && ok || bad "run a failed: $(tail -3 <<<"$log")"
# B: killed after checkpoint step-2, then resumed.
recipe b
rc="$(kill_learner_after_checkpoint "$work/b.json" "$work/b" 2)"
[ "$rc" = 137 ] && ok || bad "the learner was not killed mid-run (exit $rc): $(tail -3 "$work/killed.log")"
ls "$work/b/checkpoints" | grep -qx "step-2" && [ ! -d "$work/b/checkpoints/step-4" ] && ok \
  || bad "after the kill: $(ls -a "$work/b/checkpoints" | tr '\n' ' ')"
lines=$(wc -l < "$work/b/metrics.jsonl")
[ "$lines" -ge 2 ] && [ "$lines" -le 3 ] && ok || bad "$lines metrics lines at the kill, expected 2 or 3"
log="$("$GRPO" train "$work/b.json" --resume "$work/b" 2>&1)" && ok || bad "resume failed: $(tail -3 <<<"$log")"
grep -q "resuming .*/b from .*step-2" <<<"$log" && ok || bad "resume did not say where from: $log"
cmp -s "$work/a/checkpoints/step-4/model.safetensors" "$work/b/checkpoints/step-4/model.safetensors" \
  && ok || bad "resumed weights differ from the uninterrupted run's"
cmp -s "$work/a/checkpoints/step-2/model.safetensors" "$work/b/checkpoints/step-2/model.safetensors" \
  && ok || bad "step-2 weights differ"
cmp -s "$work/a/trajectories.wal" "$work/b/trajectories.wal" && ok || bad "write-ahead logs differ"
[ ! -e "$work/b/trajectories.cursor" ] && ok || bad "the write-ahead log is an audit log: no cursor file"
python3 - "$work/a/metrics.jsonl" "$work/b/metrics.jsonl" <<'PY' && ok || bad "metrics after resume are wrong"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert [r["step"] for r in b] == [1, 2, 3, 4], [r["step"] for r in b]   # no duplicates
for ra, rb in zip(a, b):   # the same numbers, step by step (times aside)
    for k in ("loss", "kl", "reward/mean", "grad_norm", "mtp/loss", "moe/load_max_over_mean", "ref/step"):
        assert ra[k] == rb[k], (ra["step"], k, ra[k], rb[k])
assert [r["ref/step"] for r in a] == [0, 0, 0, 3]
PY

# A checkpoint cut short: step-4 of run a loses half its weights file. Resuming names it, uses
# step-2 and ends where b ended.
size=$(stat -c %s "$work/a/checkpoints/step-4/model.safetensors")
truncate -s $((size / 2)) "$work/a/checkpoints/step-4/model.safetensors"
log="$("$GRPO" train "$work/a.json" --resume "$work/a" 2>&1)" && ok || bad "resume past a cut checkpoint failed: $(tail -3 <<<"$log")"
grep -q "skipping incomplete checkpoint .*step-4: model.safetensors: $((size / 2)) bytes, manifest says $size" <<<"$log" \
  && ok || bad "the cut checkpoint was not named: $log"
grep -q "from .*step-2" <<<"$log" && ok || bad "did not resume from step-2: $log"
cmp -s "$work/a/checkpoints/step-4/model.safetensors" "$work/b/checkpoints/step-4/model.safetensors" \
  && ok || bad "weights after resuming past the cut checkpoint differ"
[ "$(python3 -c "import json,sys; print([json.loads(l)['step'] for l in open(sys.argv[1])])" "$work/a/metrics.jsonl")" = "[1, 2, 3, 4]" ] \
  && ok || bad "metrics steps after the second resume"

# A finished run resumes to nothing; a folder without checkpoints is refused with its name.
log="$("$GRPO" train "$work/a.json" --resume "$work/a" 2>&1)" && grep -q "already reached step 4" <<<"$log" && ok \
  || bad "resuming a finished run: $log"
mkdir -p "$work/empty"
msg="$("$GRPO" train "$work/a.json" --resume "$work/empty" 2>&1)" && bad "resumed from nothing" || ok
grep -q "empty" <<<"$msg" && ok || bad "error does not name the folder: $msg"
finish
