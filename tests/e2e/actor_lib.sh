# Shared by the actor runtime's e2e tests (sourced after lib.sh, inputs from tiny_setup 8): a
# recipe writer and checks over a run folder's metrics.jsonl, workers.jsonl and weight_sync.jsonl.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# actor_recipe NAME STEPS RUNTIME_JSON [SAVE_EVERY]: writes $work/NAME.json with run folder $work/NAME.
actor_recipe() {
  cat > "$work/$1.json" <<JSON
{ "name": "$1",
  "model": { "init": "base" },
  "data": { "train": "train.jsonl" },
  "reward": { "script": "reward.lua", "workers": 1 },
  "rollout": { "group_size": 2, "prompts_per_step": 4, "max_new_tokens": 4 },
  "algorithm": { "preset": "grpo", "tis_cap": 2.0 },
  "optim": { "lr": 1e-3 },
  "train": { "steps": $2, "save_every": ${4:-0}, "run_dir": "$1", "seed": 3 },
  "runtime": $3 }
JSON
}

# check_run DIR STEPS PER_STEP: every step logged once, every prompt of every step scored, the
# weight version advancing, every version's bytes arriving as published, and every rollout
# worker's weights hash equal to the learner's (runtime.weight_format "fp32") or, for a quantized
# format, to every other worker's.
check_run() {
  python3 - "$@" <<'PY'
import json, sys
d, steps, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert [r["step"] for r in rows] == list(range(1, steps + 1)), [r["step"] for r in rows]
for r in rows:
    assert r["prompts/total"] == per and r["prompts/scored"] == per, ("prompts not all scored", r["step"], r["prompts/scored"])
    assert r["prompts/dispatched"] >= per, r
    for k in ("time/rollout_s", "time/reward_s", "time/learner_s", "time/weight_sync_s"):
        assert k in r, k
# Versions advance: the rollouts of step s sample from version s-1 (synchronous) or a bit older.
vs = [r["weights/version"] for r in rows]
assert vs == sorted(vs) and vs[-1] >= steps - 1, vs
lines = [json.loads(l) for l in open(d + "/weight_sync.jsonl")]
assert lines, "no weight loads logged"
for l in lines:
    # The published bytes arrived as the learner hashed them (every format) ...
    assert l["learner_blob_sha256"] and l["blob_sha256"] == l["learner_blob_sha256"], ("published bytes differ", l)
    if l.get("format", "fp32") == "fp32":  # ... and an FP32 version makes the learner's own model
        assert l["learner_hash"] and l["hash"] == l["learner_hash"], ("worker weights differ from the learner's", l)
# A quantized version (bf16, fp8) makes the same model in every worker.
hashes = {}
for l in lines:
    hashes.setdefault(l["version"], set()).add(l["hash"])
assert all(len(h) == 1 for h in hashes.values()), ("workers hold different weights for one version", hashes)
by_worker = {}
for l in lines:
    by_worker.setdefault(l["worker"], []).append(l["version"])
print("weight loads per worker:", {w: sorted(v) for w, v in by_worker.items()})
PY
}

# Sum of a metric over the run.
metric_sum() {
  python3 -c "import json,sys; print(int(sum(json.loads(l).get(sys.argv[2], 0) for l in open(sys.argv[1]))))" "$1/metrics.jsonl" "$2"
}
