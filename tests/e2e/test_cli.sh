#!/usr/bin/env bash
# The grpo program as a user meets it: help, unknown commands and flags, missing files.
set -u
GRPO="${GRPO:-build/grpo}"
pass=0; fail=0
check() {  # check NAME EXPECTED_RC PATTERN -- CMD...
  local name="$1" want_rc="$2" pattern="$3"; shift 4
  local out rc
  out="$("$@" 2>&1)"; rc=$?
  if [ "$rc" = "$want_rc" ] && grep -qE -- "$pattern" <<<"$out"; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1)); echo "FAIL: $name (rc=$rc, want $want_rc, pattern '$pattern')"; echo "$out" | head -5
  fi
}
check "help lists subcommands" 0 "train.*sft.*generate|train" -- "$GRPO" --help
for c in train sft generate logprobs eval reward init convert worker; do
  check "help lists $c" 0 "^  $c " -- "$GRPO" --help
  check "$c --help" 0 "usage: grpo $c" -- "$GRPO" "$c" --help
done
check "no arguments prints usage, exits 2" 2 "usage: grpo COMMAND" -- "$GRPO"
check "unknown command" 2 "unknown command 'frobnicate'" -- "$GRPO" frobnicate
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
