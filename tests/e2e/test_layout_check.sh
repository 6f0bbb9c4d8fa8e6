#!/usr/bin/env bash
# scripts/check_layout.py: the tree follows the README's layout, and an include that points up
# the stack (a domain folder reaching into the runtime) fails with the file, line and edge.
source "$(dirname "$0")/lib.sh"
check="$SRC/scripts/check_layout.py"

python3 "$check" "$SRC" >/dev/null && ok || bad "the tree breaks its own layout: $(python3 "$check" 2>&1 | tail -3)"

mkdir -p "$work/tree/model" "$work/tree/rollout" "$work/tree/actor/transport"
echo '#include "rollout/generator.h"' >"$work/tree/model/mla.h"
echo '#include "model/mla.h"' >"$work/tree/rollout/generator.h"
echo '#include "common/error.h"' >"$work/tree/actor/transport/channel.h"
out="$(python3 "$check" "$work/tree" 2>&1)"; rc=$?
[ $rc = 1 ] && grep -q 'model/mla.h:1: model includes "rollout/generator.h"' <<<"$out" && ok || bad "upward edge not caught (rc $rc): $out"
[ "$(grep -c "an edge up the stack" <<<"$out")" = 1 ] && ok || bad "downward edges reported too: $out"

echo '#include "actor/learner_driver.h"' >"$work/tree/actor/transport/channel.h"
python3 "$check" "$work/tree" 2>&1 | grep -q 'actor/transport/channel.h:1: actor/transport includes "actor/learner_driver.h"' \
  && ok || bad "transport reaching into the runtime not caught"
finish
