#!/usr/bin/env bash
# `grpo generate` on a freshly initialised tiny checkpoint: G completions per prompt with token
# ids, log-probs and finish reasons; greedy output is deterministic; a bad prompt fails alone.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$GRPO" init --config "$SRC/model/configs/tiny_direct_q.json" --out "$work/ckpt" --seed 5 >/dev/null 2>&1 && ok || bad "grpo init failed"
cat > "$work/prompts.jsonl" <<'JSONL'
{"tokens": [0, 10, 11, 12]}
{"tokens": [0, 99999]}
{"tokens": [0, 40]}
JSONL
out="$("$GRPO" generate "$work/ckpt" --prompts "$work/prompts.jsonl" -n 3 --max-new-tokens 8 --seed 1 --json 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "generate exit code $rc: $out"
python3 - "$out" <<'PY' && ok || bad "generate --json output is wrong: $out"
import json, sys
rows = [json.loads(l) for l in sys.argv[1].strip().splitlines()]
good = [r for r in rows if "error" not in r]
errors = [r for r in rows if "error" in r]
assert len(good) == 6, len(good)                      # 3 completions for each of the 2 good prompts
assert len(errors) == 1 and errors[0]["prompt_index"] == 1 and "99999" in errors[0]["error"], errors
for r in good:
    assert len(r["tokens"]) == len(r["logprobs"]) and 1 <= len(r["tokens"]) <= 8
    assert all(lp <= 0 for lp in r["logprobs"])
    assert r["finish_reason"] in ("eos", "length")
PY
a="$("$GRPO" generate "$work/ckpt" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --json 2>/dev/null)"
b="$("$GRPO" generate "$work/ckpt" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --json 2>/dev/null)"
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "greedy generation is not deterministic"
c="$("$GRPO" generate "$work/ckpt" --prompts "$work/prompts.jsonl" --temperature 0 --max-new-tokens 6 --json --draft --max-batch-rows 2 2>"$work/draft.err")"
python3 - "$a" "$c" <<'PY' && ok || bad "greedy tokens changed with --draft / --max-batch-rows 2: $c"
import json, sys
tokens = lambda out: [json.loads(l).get("tokens") for l in out.strip().splitlines()]
assert tokens(sys.argv[1]) == tokens(sys.argv[2]), (tokens(sys.argv[1]), tokens(sys.argv[2]))
PY
grep -q "MTP drafts: .* accepted" "$work/draft.err" && ok || bad "--draft did not report the acceptance rate: $(cat "$work/draft.err")"
msg="$("$GRPO" generate "$work/ckpt" --prompts "$work/prompts.jsonl" --top-p 0 --json 2>&1)"
grep -q "top_p" <<<"$msg" && ok || bad "top-p 0 not reported: $msg"
msg="$("$GRPO" generate "$work/ckpt" --prompt "hello" 2>&1)" && bad "text prompt without tokenizer accepted" || ok
grep -q "tokenizer.json" <<<"$msg" && ok || bad "missing tokenizer not named: $msg"
finish
