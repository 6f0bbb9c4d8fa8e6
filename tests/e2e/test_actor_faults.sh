#!/usr/bin/env bash
# Faults with real processes (runtime.mode "processes"): a rollout worker and a reward worker
# killed with SIGKILL mid-run — the run finishes every step, the dead worker's prompts are handed
# to others and it is restarted, and every prompt of every step is scored (metrics); the learner
# killed with SIGKILL — its workers die with it and `grpo train --resume` continues from the last
# checkpoint to the same weights as a run never interrupted.
#
# Every kill comes from outside, as a user's or the kernel's would: kill -9 of a pid read from
# workers.jsonl once the run has logged its first step, or of the learner right after a checkpoint.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8
RT='{ "mode": "processes", "rollout_workers": 2, "reward_workers": 2, "heartbeat_timeout_s": 5 }'

killed_worker_run() {  # NAME ROLE
  actor_recipe "$1" 6 "$RT"
  "$GRPO" train "$work/$1.json" >"$work/$1.log" 2>&1 &
  local learner=$! pid
  pid="$(pid_of_worker "$work/$1" "$2" 0)"
  [ -n "$pid" ] && kill -9 "$pid" && ok || bad "$1: could not find and kill $2 worker 0"
  wait "$learner" && ok || { bad "$1: run failed: $(tail -5 "$work/$1.log")"; return; }
  out="$(check_run "$work/$1" 6 4 2>&1)" && ok || bad "$1: $out"
  python3 - "$work/$1" "$2" <<'PY' && ok || bad "$1: the loss of $2 worker 0 is not accounted for"
import json, sys
d, role = sys.argv[1], sys.argv[2]
events = [json.loads(l) for l in open(d + "/workers.jsonl")]
lost = [e for e in events if e["event"] == "lost"]
assert len(lost) == 1 and lost[0]["role"] == role and lost[0]["rank"] == 0, lost
assert "signal 9" in lost[0]["reason"], lost[0]
assert any(e["event"] == "welcomed" and e["role"] == role and e["incarnation"] == 1 for e in events), "not restarted"
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
assert sum(r["workers/restarts"] for r in rows) == 1
assert sum(r["workers/lost"] for r in rows) == 1
assert sum(r["prompts/reassigned"] for r in rows) == lost[0]["reassigned"]
assert sum(r["prompts/scored"] for r in rows) == 6 * 4          # every prompt of every step
assert sum(r["prompts/dispatched"] for r in rows) >= 6 * 4 + (lost[0]["reassigned"] if role == "rollout" else 0)
print("%s worker 0 killed holding %d prompt(s)" % (role, lost[0]["reassigned"]))
PY
}
killed_worker_run kill_rollout rollout
killed_worker_run kill_reward reward

# kill -9 from outside, of a rollout worker of a running learner.
actor_recipe ext 12 "$RT"
"$GRPO" train "$work/ext.json" >"$work/ext.log" 2>&1 &
learner=$!
pid=""
for _ in $(seq 1 600); do  # up to 60 s for the first step's metrics
  [ -s "$work/ext/metrics.jsonl" ] && pid="$(python3 -c "
import json,sys
w=[json.loads(l) for l in open(sys.argv[1])]
print([e['pid'] for e in w if e['event']=='welcomed' and e['role']=='rollout' and e['rank']==1][0])" "$work/ext/workers.jsonl" 2>/dev/null)"
  [ -n "$pid" ] && break
  sleep 0.1
done
[ -n "$pid" ] && kill -9 "$pid" && ok || bad "could not find and kill rollout worker 1"
wait "$learner" && ok || bad "the run with an outside kill failed: $(tail -5 "$work/ext.log")"
out="$(check_run "$work/ext" 12 4 2>&1)" && ok || bad "ext: $out"
grep -q '"event": *"lost".*"rank": *1' "$work/ext/workers.jsonl" || grep -q '"lost"' "$work/ext/workers.jsonl" \
  && ok || bad "ext: the killed worker was not noticed (or the run ended first): $(cat "$work/ext/workers.jsonl")"

# The learner killed from outside right after checkpoint step-2, then resumed.
actor_recipe whole 4 "$RT" 2
actor_recipe cut 4 "$RT" 2
log="$("$GRPO" train "$work/whole.json" 2>&1)" && ok || bad "uninterrupted run failed: $(tail -5 <<<"$log")"
rc="$(kill_learner_after_checkpoint "$work/cut.json" "$work/cut" 2)"
[ "$rc" = 137 ] && ok || bad "the learner was not killed mid-run (exit $rc)"
python3 - "$work/cut/workers.jsonl" <<'PY' && ok || bad "workers outlived the killed learner"
import json, sys, time
def alive(pid):  # a zombie waiting for init to reap it is dead
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
pids = [e["pid"] for e in (json.loads(l) for l in open(sys.argv[1])) if e["event"] == "started"]
for _ in range(100):  # SIGKILL from PR_SET_PDEATHSIG is immediate; allow the kernel 10 s at most
    left = [p for p in pids if alive(p)]
    if not left:
        break
    time.sleep(0.1)
assert not left, "still alive: %s" % left
PY
log="$("$GRPO" train "$work/cut.json" --resume "$work/cut" 2>&1)" && ok || bad "resume failed: $(tail -5 <<<"$log")"
grep -q "resuming .*/cut from .*step-2" <<<"$log" && ok || bad "resume did not start from step-2: $log"
[ "$(python3 -c "import json,sys; print([json.loads(l)['step'] for l in open(sys.argv[1])])" "$work/cut/metrics.jsonl")" = "[1, 2, 3, 4]" ] \
  && ok || bad "metrics steps after resume: $(cut -c1-80 "$work/cut/metrics.jsonl")"
# Two rollout workers split each step's prompts the same way every time, so even this run is
# reproducible: the resumed run ends with the uninterrupted run's weights.
cmp -s "$work/whole/checkpoints/step-4/model.safetensors" "$work/cut/checkpoints/step-4/model.safetensors" \
  && ok || bad "resumed weights differ from the uninterrupted run's"
finish
