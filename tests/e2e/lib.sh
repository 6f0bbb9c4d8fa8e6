# Shared by the e2e tests (sourced): the program under test, a scratch folder removed on exit,
# and pass/fail counting that ends with the 'N passed, N failed' line.
GRPO="${GRPO:-build/grpo}"
SRC="${GRPO_SOURCE_DIR:-.}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }

# tiny_setup N: a random tiny checkpoint in $work/base, N token prompts in $work/train.jsonl and a
# reward script that pays the share of completion ids below 256 (half the vocabulary), a signal
# GRPO can follow. Without a tokenizer the script sees the completion as space-separated ids.
tiny_setup() {
  "$GRPO" init --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/base" --seed 2 >/dev/null 2>&1 || bad "init failed"
  for ((i = 0; i < $1; i++)); do echo "{\"tokens\": [0, $((10 + i)), $((20 + i))]}"; done > "$work/train.jsonl"
  cp "$SRC/tests/data/low_id_reward.lua" "$work/reward.lua"
}

# kill_learner_after_checkpoint RECIPE RUN_DIR STEP: runs `grpo train RECIPE` and SIGKILLs it from
# outside as soon as checkpoint step-STEP is complete (renamed into place), at whatever instant
# of the next steps the kill lands. Prints the learner's exit status (137 when the kill hit it).
kill_learner_after_checkpoint() {
  "$GRPO" train "$1" >"$work/killed.log" 2>&1 &
  local pid=$! n
  for ((n = 0; n < 6000; n++)); do  # up to 120 s
    [ -d "$2/checkpoints/step-$3" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  echo $?
}

# pid_of_worker RUN_DIR ROLE RANK: the pid of incarnation 0 of that worker from workers.jsonl,
# once the learner has welcomed it and logged its first step (empty after 60 s).
pid_of_worker() {
  local n pid
  for ((n = 0; n < 3000; n++)); do
    if [ -s "$1/metrics.jsonl" ]; then
      pid="$(python3 -c "
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print([r['pid'] for r in rows if r['event'] == 'welcomed' and r['role'] == sys.argv[2]
       and r['rank'] == int(sys.argv[3]) and r['incarnation'] == 0][0])" "$1/workers.jsonl" "$2" "$3" 2>/dev/null)"
      [ -n "$pid" ] && { echo "$pid"; return; }
    fi
    sleep 0.02
  done
}
