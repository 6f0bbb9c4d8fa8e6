# Shared by the e2e tests (sourced): the program under test, a scratch folder removed on exit,
# and pass/fail counting that ends with the 'N passed, N failed' line.
GRPO="${GRPO:-build/grpo}"
SRC="${GRPO_SOURCE_DIR:-.}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
