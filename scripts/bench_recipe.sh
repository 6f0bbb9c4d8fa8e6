#!/usr/bin/env bash
# Time per GRPO step of the math recipe, split into rollout, reward, learner and weight sync:
# `grpo train` (through `grpo run`) and TRL's GRPOTrainer (bench/peer_trl_grpo.py) on the same
# SFT base, prompts, group size, completion budget, learning rate and thread count, in one run,
# side by side.
#
#   scripts/bench_recipe.sh [STEPS] [RUN_DIR]      (defaults: 5 steps, runs/bench-math)
#
# The first call makes the recipe's SFT base (about 5 minutes on 2 cores); later calls reuse it.
# TRL is installed into .venv on first use (pip install trl==$TRL_VERSION). The steps are
# sampled, so the two sides generate different completions of different lengths: the table
# shows completion tokens per step next to the times.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STEPS="${1:-5}"
RUN_DIR="${2:-$ROOT/runs/bench-math}"
RECIPE="$ROOT/recipes/math"
PY="$ROOT/.venv/bin/python"
GRPO="${GRPO:-$ROOT/build/grpo}"   # GRPO=path/to/grpo to time another build
TRL_VERSION=1.16.0
[ -x "$GRPO" ] || { echo "bench_recipe: $GRPO missing: run scripts/setup.sh first" >&2; exit 1; }
[ -x "$PY" ] || { echo "bench_recipe: $PY missing: run scripts/setup.sh first" >&2; exit 1; }

# Ours: the recipe's pipeline with the GRPO stage cut to STEPS and no evaluation.
rm -rf "$RUN_DIR/checkpoints" "$RUN_DIR/metrics.jsonl" "$RUN_DIR/tb" "$RUN_DIR/trajectories."*
"$GRPO" run "$RECIPE" --run-dir "$RUN_DIR" --steps "$STEPS" --no-eval --quiet >/dev/null

# Peer: TRL, same base and data, one thread as the recipe's runtime.threads.
peer_json="$RUN_DIR/peer_trl.json"
if ! "$PY" -c "import trl" 2>/dev/null; then
  echo "bench_recipe: installing trl==$TRL_VERSION into .venv" >&2
  "$PY" -m pip install -q "trl==$TRL_VERSION" >&2 || true
fi
if "$PY" -c "import trl" 2>/dev/null; then
  read -r PROMPTS GROUP MAXNEW LR TEMP THREADS SEED < <("$PY" - "$RUN_DIR/config.json" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
r = c["rollout"]
print(r["prompts_per_step"], r["group_size"], r["max_new_tokens"], c["optim"]["lr"], r["temperature"],
      max(1, c["runtime"]["threads"]), c["train"]["seed"])
EOF
  )
  OMP_NUM_THREADS="$THREADS" "$PY" "$ROOT/bench/peer_trl_grpo.py" "$RUN_DIR/sft" "$RUN_DIR/data/train.jsonl" \
    --steps "$STEPS" --prompts-per-step "$PROMPTS" --group "$GROUP" --max-new "$MAXNEW" --lr "$LR" \
    --temperature "$TEMP" --threads "$THREADS" --seed "$SEED" --out "$RUN_DIR/peer_trl" 2>"$RUN_DIR/peer_trl.log" \
    | tail -n 1 >"$peer_json" || { echo "bench_recipe: the TRL peer failed; see $RUN_DIR/peer_trl.log" >&2; : >"$peer_json"; }
else
  echo "bench_recipe: trl could not be installed; the TRL column stays empty" >&2
  : >"$peer_json"
fi

"$PY" - "$RUN_DIR/metrics.jsonl" "$peer_json" "$STEPS" <<'EOF'
import json, statistics, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peer_text = open(sys.argv[2]).read().strip()
peer = json.loads(peer_text) if peer_text else None
steps = int(sys.argv[3])

def med(xs):
    return statistics.median(xs) if xs else float("nan")

# Step 1 of either side pays one-time costs (allocator warm-up, TRL's first generate); the
# median over the steps is the number to read.
stages = [("rollout", "time/rollout_s", "rollout_s"), ("reward", "time/reward_s", "reward_s"),
          ("learner", "time/learner_s", "learner_s"), ("weight sync", "time/weight_sync_s", "weight_sync_s"),
          ("whole step", "time/step_s", "step_s")]
print(f"math recipe, {steps} GRPO steps, median seconds per step (1 thread each)")
print(f"{'stage':<12} {'grpo':>10} {'TRL':>10} {'TRL / grpo':>11}")
for name, ours_key, peer_key in stages:
    a = med([m[ours_key] for m in ours if ours_key in m])
    b = med([s[peer_key] for s in peer["steps"]]) if peer else float("nan")
    ratio = b / a if a and a == a and b == b and a > 0 else float("nan")
    print(f"{name:<12} {a:>10.3f} {b:>10.3f} {ratio:>10.2f}x")
tok_ours = med([m.get("response_length/mean", float("nan")) for m in ours])
tok_peer = med(peer.get("mean_completion_length", [])) if peer else float("nan")
print(f"{'length':<12} {tok_ours:>10.1f} {tok_peer:>10.1f}   (mean completion tokens)")
if peer:
    print(f"TRL {peer['trl_version']}; reward mean per step: grpo "
          + ", ".join(f"{m.get('reward/mean', float('nan')):.2f}" for m in ours)
          + "; TRL " + ", ".join(f"{s.get('reward_mean', float('nan')):.2f}" for s in peer["steps"]))
EOF
