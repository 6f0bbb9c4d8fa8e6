#!/usr/bin/env bash
# DAPO's batch refill (algorithm.refill_rounds): half the prompts have a reward that is the same
# for every completion, so dynamic sampling drops their groups; with refills the step samples
# more prompts until prompts_per_step groups carry signal (or the rounds run out), and trains on
# more groups than the same run without refills. A run killed mid-way and resumed ends with the
# weights of the uninterrupted run: the refill draws are part of each step's data position.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
tiny_setup 8
# Prompts whose second token is even: reward 1 whatever the completion (no signal). The others:
# tiny_setup's reward (the share of completion ids below 256).
sed 's/^function reward(sample)$/function low_share(sample)/' "$work/reward.lua" > "$work/half.lua"
cat >> "$work/half.lua" <<'LUA'
function reward(sample)
  if sample.tokens[2] % 2 == 0 then return 1 end
  return low_share(sample)
end
LUA
recipe() {  # NAME ROUNDS
  cat > "$work/$1.json" <<JSON
{ "name": "$1",
  "model": { "init": "base" },
  "data": { "train": "train.jsonl" },
  "reward": { "script": "half.lua" },
  "rollout": { "group_size": 4, "prompts_per_step": 4, "max_new_tokens": 6 },
  "algorithm": { "preset": "dapo", "refill_rounds": $2 },
  "optim": { "lr": 1e-3 },
  "train": { "steps": 4, "save_every": 2, "run_dir": "$1", "seed": 7 } }
JSON
}
recipe none 0; recipe refill 3; recipe cut 3
log="$("$GRPO" train "$work/none.json" 2>&1)" && ok || bad "run without refill failed: $(tail -3 <<<"$log")"
log="$("$GRPO" train "$work/refill.json" 2>&1)" && ok || bad "run with refill failed: $(tail -3 <<<"$log")"
python3 - "$work/none/metrics.jsonl" "$work/refill/metrics.jsonl" <<'PY' && ok || bad "refill did not fill the batch"
import json, sys
none = [json.loads(l) for l in open(sys.argv[1])]
refill = [json.loads(l) for l in open(sys.argv[2])]
for r in refill:
    # Every prompt drawn was scored and trained on or dropped; the step either has its 4
    # groups with signal or used all 3 rounds.
    assert r["groups/used"] + r["groups/dropped"] == r["prompts/total"] == r["prompts/scored"], r
    assert r["prompts/total"] == 4 + r["refill/prompts"], r
    assert r["groups/used"] == 4 or r["refill/rounds"] == 3, (r["step"], r["groups/used"], r["refill/rounds"])
assert sum(r["refill/prompts"] for r in refill) > 0, "no step needed a refill: the test prompts are wrong"
assert "refill/rounds" not in none[0]
used_none, used_refill = sum(r["groups/used"] for r in none), sum(r["groups/used"] for r in refill)
assert used_refill > used_none, (used_none, used_refill)
print("groups trained: without refill %d, with refill %d" % (used_none, used_refill))
PY

# Killed from outside after checkpoint step-2, resumed: the same weights as the whole run.
rc="$(kill_learner_after_checkpoint "$work/cut.json" "$work/cut" 2)"
[ "$rc" = 137 ] && ok || bad "the learner was not killed mid-run (exit $rc)"
log="$("$GRPO" train "$work/cut.json" --resume "$work/cut" 2>&1)" && ok || bad "resume failed: $(tail -3 <<<"$log")"
cmp -s "$work/refill/checkpoints/step-4/model.safetensors" "$work/cut/checkpoints/step-4/model.safetensors" \
  && ok || bad "resumed weights differ from the uninterrupted refill run's"
cmp -s "$work/refill/trajectories.wal" "$work/cut/trajectories.wal" && ok || bad "write-ahead logs differ"

# Refills need dynamic sampling and synchronous rollouts: anything else is refused by name.
sed 's/"preset": "dapo"/"preset": "grpo"/' "$work/refill.json" > "$work/nodrop.json"
msg="$("$GRPO" train "$work/nodrop.json" 2>&1)" && bad "refill without drop_equal_groups accepted" || ok
grep -q "algorithm.refill_rounds" <<<"$msg" && grep -q "drop_equal_groups" <<<"$msg" && ok || bad "nodrop error: $msg"
msg="$("$GRPO" train "$work/nodrop.json" --dry-run 2>&1)" && bad "--dry-run passed a refill without drop_equal_groups" || ok
grep -q "algorithm.refill_rounds" <<<"$msg" && ok || bad "--dry-run does not report the cross-key error: $msg"
python3 - "$work/refill.json" "$work/async.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["runtime"] = {"max_staleness": 1}; r["train"]["run_dir"] = "async"
json.dump(r, open(sys.argv[2], "w"))
PY
msg="$("$GRPO" train "$work/async.json" 2>&1)" && bad "refill with asynchronous rollouts accepted" || ok
grep -q "algorithm.refill_rounds" <<<"$msg" && grep -q "max_staleness 0" <<<"$msg" && ok || bad "async error: $msg"
finish
