#!/usr/bin/env bash
# runtime.weight_sync "nccl": where NCCL cannot work the run is refused up front, naming the
# recipe field and why (threads mode; asynchronous rollouts; a build without NCCL; no GPU; fewer
# GPUs than ranks on one host). With two or more GPUs it runs: every rollout worker's weights arrive by broadcast
# ("via": "nccl" in weight_sync.jsonl) and hash equal to the learner's.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/actor_lib.sh"
tiny_setup 8

actor_recipe nccl_threads 2 '{ "mode": "threads", "weight_sync": "nccl" }'
log="$("$GRPO" train "$work/nccl_threads.json" 2>&1)" && bad "threads mode with NCCL was not refused" || ok
grep -q 'runtime.weight_sync' <<<"$log" && grep -q 'processes' <<<"$log" && ok || bad "threads refusal does not name the field and the fix: $log"
[ ! -s "$work/nccl_threads/metrics.jsonl" ] && ok || bad "a refused run trained anyway"

actor_recipe nccl_async 2 '{ "mode": "processes", "max_staleness": 1, "weight_sync": "nccl" }'
log="$("$GRPO" train "$work/nccl_async.json" 2>&1)" && bad "asynchronous mode with NCCL was not refused" || ok
grep -q 'runtime.weight_sync' <<<"$log" && grep -q 'max_staleness 0' <<<"$log" && ok || bad "async refusal: $log"

gpus=0
command -v nvidia-smi >/dev/null 2>&1 && gpus="$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')"
actor_recipe nccl_procs 2 '{ "mode": "processes", "rollout_workers": 1, "weight_sync": "nccl" }'
if [ "$gpus" -lt 2 ]; then
  # No GPU, or a build without NCCL, or one GPU for two ranks: refused, with the reason.
  log="$("$GRPO" train "$work/nccl_procs.json" 2>&1)" && bad "NCCL with $gpus GPU(s) was not refused" || ok
  grep -q 'runtime.weight_sync' <<<"$log" && grep -Eq 'no CUDA|CUDA GPU|has none|one GPU per rank' <<<"$log" \
    && ok || bad "the refusal does not say why: $log"
else
  log="$("$GRPO" train "$work/nccl_procs.json" 2>&1)" && ok || bad "NCCL run failed: $(tail -5 <<<"$log")"
  out="$(check_run "$work/nccl_procs" 2 4 2>&1)" && ok || bad "nccl: $out"
  grep -q '"via": *"nccl"' "$work/nccl_procs/weight_sync.jsonl" && ok || bad "no version arrived by NCCL: $(cat "$work/nccl_procs/weight_sync.jsonl")"
fi
finish
