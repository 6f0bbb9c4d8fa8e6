#!/usr/bin/env bash
# Shared-key (ZeroMQ CURVE) mode, runtime.curve_key_file: three torchrun-style ranks on tcp
# loopback, every one reading the same key file, finish the run with every prompt scored and the
# rollout worker's weights equal to the learner's. A worker with the right run token but another
# key file, and one with no key at all, are never welcomed: their handshakes are refused and
# counted (runtime/curve_refused). A key file that others can read is refused with the fix.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8
openssl rand -hex 32 > "$work/run.key" && chmod 600 "$work/run.key"
openssl rand -hex 32 > "$work/other.key" && chmod 600 "$work/other.key"
actor_recipe curve 3 "{ \"rollout_workers\": 1, \"reward_workers\": 1, \"curve_key_file\": \"$work/run.key\" }"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

rank() {  # RANK: one torchrun-style rank
  RANK=$1 WORLD_SIZE=3 LOCAL_RANK=$1 LOCAL_WORLD_SIZE=3 GROUP_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    GRPO_RUN_TOKEN=s3cret "$GRPO" train "$work/curve.json" >"$work/rank$1.log" 2>&1
}
# Intruders that know the address and even the run token, but not the key: started first, they
# keep knocking while the learner runs and must never get a welcome.
intruder() {  # NAME [--curve-key-file FILE]
  local name=$1; shift
  GRPO_RUN_TOKEN=s3cret "$GRPO" worker --hello-timeout-s 20 --role rollout --rank 0 --incarnation 7 \
    --connect "tcp://127.0.0.1:$port" "$@" >"$work/$name.log" 2>&1
}
intruder other_key --curve-key-file "$work/other.key" & i1=$!
intruder no_key & i2=$!
rank 2 & r2=$!
rank 1 & r1=$!
rank 0 & r0=$!
wait $r0 && ok || bad "rank 0 (learner) failed: $(tail -5 "$work/rank0.log")"
wait $r1 && ok || bad "rank 1 (rollout) failed: $(tail -5 "$work/rank1.log")"
wait $r2 && ok || bad "rank 2 (reward) failed: $(tail -5 "$work/rank2.log")"
out="$(check_run "$work/curve" 3 4 2>&1)" && ok || bad "curve: $out"
wait $i1 && bad "a worker with another key was welcomed" || ok
wait $i2 && bad "a worker without a key was welcomed" || ok
grep -q "no welcome" "$work/other_key.log" && ok || bad "other key: $(cat "$work/other_key.log")"
grep -q "no welcome" "$work/no_key.log" && ok || bad "no key: $(cat "$work/no_key.log")"
! grep -q '"incarnation":7' "$work/curve/workers.jsonl" && ok || bad "an intruder reached the learner: $(cat "$work/curve/workers.jsonl")"
[ "$(metric_sum "$work/curve" runtime/curve_refused)" -ge 1 ] && ok || bad "the refused handshakes are not in the metrics"

# A key file others can read is refused, naming the file and the fix.
chmod 644 "$work/run.key"
msg="$(RANK=0 WORLD_SIZE=3 LOCAL_RANK=0 LOCAL_WORLD_SIZE=3 GROUP_RANK=0 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
  GRPO_RUN_TOKEN=s3cret "$GRPO" train "$work/curve.json" 2>&1)" && bad "a readable key file was accepted" || ok
grep -q "run.key" <<<"$msg" && grep -q "chmod 600" <<<"$msg" && ok || bad "key file error: $msg"
finish
