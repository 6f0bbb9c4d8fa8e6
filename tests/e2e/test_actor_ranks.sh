#!/usr/bin/env bash
# Multi-host mode on one host: three `grpo train` processes with torchrun's environment variables
# (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT) become
# the learner (rank 0, listening on tcp 127.0.0.1:MASTER_PORT), a rollout worker (rank 1) and a
# reward worker (rank 2). The run finishes with every prompt scored and the rollout worker's
# weights equal to the learner's; a `grpo worker` with the wrong GRPO_RUN_TOKEN is refused, and so
# is one with the right token claiming an incarnation the run never started.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8
actor_recipe ranks 3 '{ "rollout_workers": 1, "reward_workers": 1 }'
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

rank() {  # RANK: one torchrun-style rank
  RANK=$1 WORLD_SIZE=3 LOCAL_RANK=$1 LOCAL_WORLD_SIZE=3 GROUP_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    GRPO_RUN_TOKEN=s3cret "$GRPO" train "$work/ranks.json" >"$work/rank$1.log" 2>&1
}
# An intruder that knows the address but not the token, started first: its hello waits in its
# queue until the learner listens, so the learner sees it before step 1.
GRPO_RUN_TOKEN=guess "$GRPO" worker --hello-timeout-s 60 --role rollout --rank 0 --incarnation 7 \
  --connect "tcp://127.0.0.1:$port" >"$work/intruder.log" 2>&1 & ri=$!
# One that has the token but claims an incarnation this run never started (launcher ranks are
# always incarnation 0): refused too, instead of joining as an extra rollout worker 0.
GRPO_RUN_TOKEN=s3cret "$GRPO" worker --hello-timeout-s 60 --role rollout --rank 0 --incarnation 3 \
  --connect "tcp://127.0.0.1:$port" >"$work/intruder2.log" 2>&1 & ri2=$!
rank 2 & r2=$!
rank 1 & r1=$!
rank 0 & r0=$!
wait $ri && bad "the intruder was welcomed" || ok
grep -q "refused: wrong run token" "$work/intruder.log" && ok || bad "intruder not told why: $(cat "$work/intruder.log")"
wait $ri2 && bad "the intruder with the token was welcomed" || ok
grep -q "refused: no incarnation 3 of rollout worker 0" "$work/intruder2.log" && ok || bad "intruder 2 not told why: $(cat "$work/intruder2.log")"
wait $r0 && ok || bad "rank 0 (learner) failed: $(tail -5 "$work/rank0.log")"
wait $r1 && ok || bad "rank 1 (rollout) failed: $(tail -5 "$work/rank1.log")"
wait $r2 && ok || bad "rank 2 (reward) failed: $(tail -5 "$work/rank2.log")"
grep -q "rank 1 of 3 (torchrun): rollout worker 0" "$work/rank1.log" && ok || bad "rank 1 role: $(head -3 "$work/rank1.log")"
grep -q "rank 2 of 3 (torchrun): reward worker 0" "$work/rank2.log" && ok || bad "rank 2 role: $(head -3 "$work/rank2.log")"
out="$(check_run "$work/ranks" 3 4 2>&1)" && ok || bad "ranks: $out"
[ "$(metric_sum "$work/ranks" runtime/refused_messages)" -ge 1 ] && ok || bad "the refusal is not in the metrics"

# A rank that dies is noticed by its silence (no waitpid across hosts): 1 learner + 2 rollout +
# 1 reward ranks, 12 steps, rollout rank 2 is killed from outside (SIGKILL) once step 1 is logged; after
# heartbeat_timeout_s it is declared lost, its prompts go to the other rollout rank and the run
# finishes.
actor_recipe hb 12 '{ "rollout_workers": 2, "reward_workers": 1, "heartbeat_timeout_s": 2 }'
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
rank4() {
  RANK=$1 WORLD_SIZE=4 LOCAL_RANK=$1 LOCAL_WORLD_SIZE=4 GROUP_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    GRPO_RUN_TOKEN=s3cret "$GRPO" train "$work/hb.json" >"$work/hb$1.log" 2>&1
}
rank4 3 & h3=$!; rank4 2 & h2=$!; rank4 1 & h1=$!; rank4 0 & h0=$!
pid="$(pid_of_worker "$work/hb" rollout 1)"  # rank 2 = rollout worker 1
[ -n "$pid" ] && kill -9 "$pid" && ok || bad "hb: could not find and kill rollout rank 2"
wait $h0 && ok || bad "hb: learner failed: $(tail -5 "$work/hb0.log")"
{ wait $h2; } 2>/dev/null; [ $? = 137 ] && ok || bad "hb: rollout rank 2 should have died of the kill"
wait $h1 && ok || bad "hb: rollout rank 1 failed"
wait $h3 && ok || bad "hb: reward rank failed"
out="$(check_run "$work/hb" 12 4 2>&1)" && ok || bad "hb: $out"
grep -q '"event":"lost".*"reason":"no heartbeat for 2000 ms"' "$work/hb/workers.jsonl" && ok \
  || bad "hb: the silent rank was not declared lost: $(cat "$work/hb/workers.jsonl")"
# Its prompts reach the other rank either way: handed on from it when it held some (reassigned),
# or, when the kill came first, kept queued until it was declared lost (check_run above counts
# every prompt of every step scored).
echo "hb: $(metric_sum "$work/hb" prompts/reassigned) prompt(s) handed on from the killed rank"
[ "$(metric_sum "$work/hb" workers/restarts)" = 0 ] && ok || bad "hb: a launcher rank cannot be restarted by us"

# A world size that does not match the recipe is refused with the numbers.
msg="$(RANK=0 WORLD_SIZE=5 LOCAL_RANK=0 LOCAL_WORLD_SIZE=5 GROUP_RANK=0 "$GRPO" train "$work/ranks.json" 2>&1)" \
  && bad "a wrong world size was accepted" || ok
grep -q "started 5 ranks, but 1 learner + rollout_workers 1 + reward_workers 1 = 3" <<<"$msg" && ok || bad "world size error: $msg"
finish
