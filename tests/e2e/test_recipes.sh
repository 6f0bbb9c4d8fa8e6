#!/usr/bin/env bash
# Shortened math and code recipes through `grpo run`: every stage runs (data, tokenizer, SFT base,
# eval, GRPO, eval, report), metrics are written, and the reward does not collapse. The full
# improvement is measured by the recipes' own runs (recipes/*/README.md), not here.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for family in math code; do
  mkdir -p "$work/$family"
  cp "$SRC/recipes/$family/reward.lua" "$SRC/recipes/$family/model.json" "$work/$family/"
  # The shipped recipe with its sizes cut down: same keys, same code path.
  python3 - "$SRC/recipes/$family/recipe.json" "$work/$family/recipe.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["task"].update(train_prompts=40, eval_prompts=12, sft_examples=160)
r["sft"].update(steps=80, batch=16)
r["rollout"].update(prompts_per_step=4, group_size=4)
r["eval"].update(samples=2)
r["train"].update(steps=3, save_every=0, run_dir="run")
r.setdefault("runtime", {})["threads"] = 1
json.dump(r, open(sys.argv[2], "w"))
PY
  log="$("$GRPO" run "$work/$family" 2>&1)"; rc=$?
  [ "$rc" = 0 ] && ok || { bad "$family: grpo run exit $rc: $(tail -5 <<<"$log")"; continue; }
  run="$work/$family/run"
  for f in data/train.jsonl data/eval.jsonl data/sft.jsonl sft/tokenizer.json sft/model.safetensors \
           sft/metrics.jsonl eval_base.json eval_final.json metrics.jsonl report.html checkpoints/step-3/model.safetensors; do
    [ -s "$run/$f" ] && ok || bad "$family: $f missing"
  done
  grep -q "held-out greedy accuracy" <<<"$log" && grep -q "run folder: $run" <<<"$log" && ok || bad "$family: no final summary"
  python3 - "$run" <<'PY' && ok || bad "$family: metrics or evaluation are wrong"
import json, sys
run = sys.argv[1]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
assert [r["step"] for r in rows] == [1, 2, 3], rows
# The SFT base writes the trace format; three small GRPO steps must not destroy it.
assert all(r["reward/format"] >= 0.5 for r in rows), [r["reward/format"] for r in rows]
sft = [json.loads(l) for l in open(run + "/sft/metrics.jsonl")]
assert len(sft) == 80 and sft[-1]["loss"] < sft[0]["loss"] / 2, (sft[0], sft[-1])
for name in ("eval_base.json", "eval_final.json"):
    e = json.load(open(run + "/" + name))
    levels = {l["level"]: l for l in e["levels"]}
    assert levels["all"]["prompts"] == 12 and 0 <= levels["all"]["pass@1"] <= 1, e
    assert levels["all"]["pass@2"] >= levels["all"]["mean@2"], e
html = open(run + "/report.html").read()
assert html.count("<svg") >= 4 and "pass@1 before" in html and "http" not in html.replace("http-equiv", "")
PY
done

# A second run reuses the finished SFT base (its inputs did not change).
log="$("$GRPO" run "$work/math" --steps 1 --no-eval 2>&1)"
grep -q "reusing the base policy" <<<"$log" && ok || bad "SFT base was not reused: $(head -5 <<<"$log")"

# The real-checkpoint recipe (recipes/gsm8k) checked on a tiny stand-in: the SFT base above plays
# the checkpoint and the shipped sample.jsonl plays the user's data. The recipe as shipped must
# validate; its reward script must score the sample rows' reference answers as correct; and one
# training step with its settings (FP8 training, MTP drafting) must run.
mkdir -p "$work/gsm8k/data"
cp "$SRC/recipes/gsm8k/recipe.json" "$SRC/recipes/gsm8k/reward.lua" "$work/gsm8k/"
cp "$SRC/recipes/gsm8k/sample.jsonl" "$work/gsm8k/data/train.jsonl"
cp "$SRC/recipes/gsm8k/sample.jsonl" "$work/gsm8k/data/test.jsonl"
ln -s "$work/math/run/sft" "$work/gsm8k/checkpoint"
"$GRPO" train "$work/gsm8k" --dry-run >/dev/null 2>&1 && ok || bad "gsm8k recipe does not validate"
python3 - "$work/gsm8k/data/train.jsonl" "$work/answers.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(isinstance(r["prompt"], str) and isinstance(r["answer"], str) for r in rows), "data schema"
with open(sys.argv[2], "w") as out:
    for r in rows:  # the reference answer, boxed after the reasoning, as a completion
        final = r["answer"].split("####")[-1].strip()
        out.write(json.dumps({"completion": "<think>\nsteps\n</think>\n\\boxed{%s}" % final}) + "\n")
PY
out="$("$GRPO" reward "$work/gsm8k/reward.lua" "$work/gsm8k/data/train.jsonl" --completions "$work/answers.jsonl" --json 2>&1)"
python3 -c 'import json,sys; rows=[json.loads(l) for l in sys.stdin if l.startswith("{")]; rows=[r for r in rows if "metrics" in r]; assert len(rows)==3 and all(r["metrics"]["correct"]==1 for r in rows), rows' <<<"$out" \
  && ok || bad "gsm8k reward does not accept the reference answers: $out"
python3 - "$work/gsm8k/recipe.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))  # same keys, sizes for a tiny model on a CPU
r["rollout"].update(group_size=2, prompts_per_step=2, max_new_tokens=8)
r["reward"]["workers"] = 1
r["train"].update(steps=1, save_every=0, run_dir="run")
r["runtime"]["threads"] = 1
json.dump(r, open(sys.argv[1], "w"))
PY
log="$("$GRPO" train "$work/gsm8k" 2>&1)" && [ -s "$work/gsm8k/run/checkpoints/step-1/model.safetensors" ] && ok || bad "gsm8k step on the stand-in: $(tail -5 <<<"$log")"

# grpo eval on the SFT base with the recipe: its eval set, regenerated from the task seed, must be
# the held-out set the pipeline evaluated, so the greedy results per level equal eval_base.json's.
out="$("$GRPO" eval "$work/math/run/sft" --recipe "$work/math" --samples 2 --json "$work/eval.json" 2>&1)"
grep -q "^all " <<<"$out" && [ -s "$work/eval.json" ] && ok || bad "grpo eval: $out"
python3 - "$work/eval.json" "$work/math/run/eval_base.json" <<'PY' && ok || bad "grpo eval differs from the pipeline's eval_base.json"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
greedy = lambda e: {l["level"]: (l["prompts"], l["pass@1"], l["greedy_length"]) for l in e["levels"]}
assert greedy(a) == greedy(b), (greedy(a), greedy(b))
PY
# Bad inputs name what is wrong.
out="$("$GRPO" eval "$work/nope" --recipe "$work/math" 2>&1)"; [ $? = 2 ] && grep -q "nope" <<<"$out" && ok || bad "eval of a missing checkpoint: $out"
sed 's/"family": "math"/"family": "poetry"/' "$work/math/recipe.json" > "$work/bad.json"
out="$("$GRPO" run "$work/bad.json" 2>&1)"; [ $? != 0 ] && grep -q "task.family" <<<"$out" && ok || bad "unknown family: $out"
finish
