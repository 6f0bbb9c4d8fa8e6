#!/usr/bin/env bash
# A worker busy inside one long call is alive: a reward script that takes longer per group than
# runtime.heartbeat_timeout_s must not get its reward worker declared lost (WorkerSession::
# KeepAlive beats from a second thread while the group is scored). Both modes: threads, where
# the worker shares the learner's process, and processes.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8
# 0.8 s of CPU per sample, 2 samples a group, one sandbox process: a group takes >= 1.6 s, well
# past the 1 s heartbeat timeout (and well under the 5 s per-sample sandbox limit).
cat > "$work/slow_reward.lua" <<'LUA'
function reward(sample)
  local t = os.clock()
  while os.clock() - t < 0.8 do end
  return #sample.completion % 2
end
LUA

for mode in threads processes; do
  actor_recipe "busy_$mode" 2 "{ \"mode\": \"$mode\", \"heartbeat_timeout_s\": 1.0 }"
  python3 - "$work/busy_$mode.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["reward"] = {"script": "slow_reward.lua", "workers": 1, "timeout_ms": 5000}
json.dump(r, open(sys.argv[1], "w"))
PY
  log="$("$GRPO" train "$work/busy_$mode.json" 2>&1)" && ok || { bad "$mode: run failed: $(tail -5 <<<"$log")"; continue; }
  out="$(check_run "$work/busy_$mode" 2 4 2>&1)" && ok || bad "$mode: $out"
  lost="$(metric_sum "$work/busy_$mode" workers/lost)"
  [ "$lost" = 0 ] && ok || bad "$mode: a busy reward worker was declared lost $lost times: $(grep lost "$work/busy_$mode/workers.jsonl")"
  reassigned="$(metric_sum "$work/busy_$mode" prompts/reassigned)"
  [ "$reassigned" = 0 ] && ok || bad "$mode: $reassigned prompts reassigned away from a busy worker"
done
finish
