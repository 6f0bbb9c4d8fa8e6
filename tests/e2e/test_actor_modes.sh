#!/usr/bin/env bash
# The actor runtime in each mode on a tiny model: threads (2 rollout + 2 reward workers, over
# inproc and over tcp loopback), asynchronous (max_staleness 1) and one process per worker
# (--processes). In each: trajectories flow (every prompt of every step scored), weight versions
# advance, and every rollout worker's weights hash equals the learner's hash of that version.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8

run() {  # NAME STEPS RUNTIME [extra args]
  local name=$1 steps=$2 runtime=$3; shift 3
  actor_recipe "$name" "$steps" "$runtime"
  log="$("$GRPO" train "$work/$name.json" "$@" 2>&1)" && ok || { bad "$name run failed: $(tail -5 <<<"$log")"; return 1; }
  out="$(check_run "$work/$name" "$steps" 4 2>&1)" && ok || bad "$name: $out"
}

# Threads, 2 + 2 workers: both rollout workers load every version they use.
run threads 3 '{ "mode": "threads", "rollout_workers": 2, "reward_workers": 2 }'
python3 - "$work/threads" <<'PY' && ok || bad "threads: not every rollout worker loaded versions 0..2"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1] + "/weight_sync.jsonl")]
for w in ("rollout-0.0", "rollout-1.0"):
    got = {l["version"] for l in lines if l["worker"] == w}
    assert {0, 1, 2} <= got, (w, got)
PY
[ "$(python3 -c "import sys; print(sum(1 for _ in open(sys.argv[1])))" "$work/threads/workers.jsonl")" = 4 ] && ok \
  || bad "threads: expected 4 workers welcomed: $(cat "$work/threads/workers.jsonl")"

# The same over tcp loopback.
run tcp 2 '{ "mode": "threads", "rollout_workers": 1, "reward_workers": 2, "transport": "tcp" }'

# Quantized publication (runtime.weight_format): BF16 over inproc, FP8 (128x128 blocks) through
# shared memory between processes. Each version is a half / about a quarter of the FP32 bytes.
run bf16 2 '{ "mode": "threads", "rollout_workers": 2, "reward_workers": 1, "weight_format": "bf16" }'
run fp8 2 '{ "rollout_workers": 2, "reward_workers": 1, "weight_format": "fp8", "weight_sync": "shm" }' --processes
python3 - "$work" <<'PY' && ok || bad "quantized publication: formats or hashes are not what they should be"
import json, sys
def loads(name):
    return [json.loads(l) for l in open("%s/%s/weight_sync.jsonl" % (sys.argv[1], name))]
bf16, fp8, fp32 = loads("bf16"), loads("fp8"), loads("threads")
assert {l["format"] for l in bf16} == {"bf16"} and {l["format"] for l in fp8} == {"fp8"}
# A quantized model is not the FP32 master weights: its hash differs from FP32 version 0's.
v0 = lambda ls: {l["hash"] for l in ls if l["version"] == 0}
assert v0(bf16) and v0(bf16).isdisjoint(v0(fp32)) and v0(fp8).isdisjoint(v0(fp32)) and v0(fp8).isdisjoint(v0(bf16)), (v0(fp32), v0(bf16), v0(fp8))
PY

# Asynchronous: one step of prompts sampled ahead; groups older than one version are refused.
run async 4 '{ "mode": "threads", "rollout_workers": 2, "reward_workers": 1, "max_staleness": 1 }'

# (Stale groups refused and sampled again: tests/unit/actor/test_train_loop.cpp, through the
# TrainRunOptions hook that submits further ahead than max_staleness allows.)

# One process per worker, weights through shared memory.
run procs 3 '{ "rollout_workers": 2, "reward_workers": 1, "weight_sync": "shm" }' --processes
python3 - "$work/procs/workers.jsonl" $$ <<'PY' && ok || bad "procs: workers were not separate processes: $(cat "$work/procs/workers.jsonl")"
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
started = [r for r in rows if r["event"] == "started"]
welcomed = [r for r in rows if r["event"] == "welcomed"]
assert len(started) == 3 and len(welcomed) == 3, rows
assert len({r["pid"] for r in welcomed}) == 3
for r in welcomed:  # gone after the run
    try:
        os.kill(r["pid"], 0); raise AssertionError("worker %d still alive" % r["pid"])
    except ProcessLookupError:
        pass
PY

# With one rollout worker the run is reproducible whatever the mode: threads and processes end
# with the same weights, bit for bit (same seeds, same weights, same thread count).
run one_thread 2 '{ "rollout_workers": 1, "reward_workers": 1 }'
run one_proc 2 '{ "rollout_workers": 1, "reward_workers": 1 }' --processes
cmp -s "$work/one_thread/checkpoints/step-2/model.safetensors" "$work/one_proc/checkpoints/step-2/model.safetensors" \
  && ok || bad "threads and processes modes trained different weights"
cmp -s "$work/one_thread/trajectories.wal" "$work/one_proc/trajectories.wal" && ok || bad "write-ahead logs differ between modes"

finish
