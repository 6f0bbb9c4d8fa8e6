#!/usr/bin/env bash
# `grpo convert` as a user runs it: an FP32 checkpoint to DeepSeek's FP8 layout and back to BF16,
# tokenizer files carried along, the FP8 folder usable by `grpo generate`, and bad inputs.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$GRPO" init --config "$SRC/model/configs/tiny.json" --out "$work/fp32" --seed 2 >/dev/null 2>&1 && ok || bad "grpo init failed"
# Non-weight files to carry along (no tokenizer.json: generate below would parse it).
printf '{"model_max_length": 256}\n' > "$work/fp32/tokenizer_config.json"
printf '{{ messages }}\n' > "$work/fp32/chat_template.jinja"

out="$("$GRPO" convert --to fp8 "$work/fp32" "$work/fp8" 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "convert --to fp8 exit $rc: $out"
grep -qE "FP8 linears \(0 copied from FP8, [0-9]+ quantized\)" <<<"$out" && ok || bad "fp8 summary line: $out"
out="$("$GRPO" convert --to bf16 "$work/fp8" "$work/bf16" 2>&1)"; rc=$?
[ "$rc" = 0 ] && ok || bad "convert --to bf16 exit $rc: $out"
grep -qE "BF16 \([0-9]+ FP8 weights dequantized\)" <<<"$out" && ok || bad "bf16 summary line: $out"
out="$("$GRPO" convert --to fp8 "$work/fp8" "$work/fp8b" 2>&1)" && ok || bad "fp8 -> fp8 failed: $out"
grep -qE "\([0-9]+ copied from FP8, 0 quantized\)" <<<"$out" && ok || bad "fp8 -> fp8 did not copy the codes: $out"
cmp -s "$work/fp8/model.safetensors" "$work/fp8b/model.safetensors" && ok || bad "fp8 -> fp8 is not byte-identical"

for d in fp8 bf16; do
  for f in tokenizer_config.json chat_template.jinja generation_config.json; do
    cmp -s "$work/fp32/$f" "$work/$d/$f" && ok || bad "$d: $f not copied unchanged"
  done
done

# Header check without Python packages: dtypes of a few tensors, and quantization_config.
python3 - "$work" <<'PY' && ok || bad "fp8/bf16 folder layout is wrong"
import json, struct, sys
w = sys.argv[1]
def header(d):
    with open(f"{w}/{d}/model.safetensors", "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))
h8, h16 = header("fp8"), header("bf16")
kv = "model.layers.1.self_attn.kv_a_proj_with_mqa.weight"
assert h8[kv]["dtype"] == "F8_E4M3", h8[kv]
assert h8[kv + "_scale_inv"]["dtype"] == "F32" and h8[kv + "_scale_inv"]["shape"] == [2, 2], h8[kv + "_scale_inv"]
assert h8["lm_head.weight"]["dtype"] == "BF16" and h8["model.layers.1.mlp.gate.weight"]["dtype"] == "BF16"
assert h16[kv]["dtype"] == "BF16" and kv + "_scale_inv" not in h16
assert not any(k.endswith("_scale_inv") for k in h16)
q = json.load(open(f"{w}/fp8/config.json"))["quantization_config"]
assert q == {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}, q
assert "quantization_config" not in json.load(open(f"{w}/bf16/config.json"))
PY

# The FP8 folder is a checkpoint the other subcommands load.
printf '{"tokens": [0, 10, 11]}\n' > "$work/prompts.jsonl"
out="$("$GRPO" generate "$work/fp8" --prompts "$work/prompts.jsonl" --max-new-tokens 4 --temperature 0 --json 2>&1)" \
  && ok || bad "generate on the fp8 folder failed: $out"

# Bad inputs: exit 2 with a message that names the problem.
expect_fail() {  # expect_fail NAME PATTERN -- CMD...
  local name="$1" pattern="$2"; shift 3
  local msg rc
  msg="$("$@" 2>&1)"; rc=$?
  if [ "$rc" != 0 ] && grep -qE -- "$pattern" <<<"$msg"; then ok; else bad "$name (rc=$rc): $msg"; fi
}
expect_fail "missing folder" "$work/nope" -- "$GRPO" convert --to fp8 "$work/nope" "$work/x"
expect_fail "unknown --to" "--to must be fp8 or bf16, got 'int4'" -- "$GRPO" convert --to int4 "$work/fp32" "$work/x"
expect_fail "missing --to" "--to" -- "$GRPO" convert "$work/fp32" "$work/x"
expect_fail "one folder only" "IN_DIR and OUT_DIR" -- "$GRPO" convert --to bf16 "$work/fp32"
expect_fail "in place" "OUT_DIR is IN_DIR" -- "$GRPO" convert --to bf16 "$work/fp32" "$work/fp32"
mkdir -p "$work/empty"
expect_fail "no config.json" "config.json" -- "$GRPO" convert --to fp8 "$work/empty" "$work/x"
[ ! -e "$work/x" ] && ok || bad "a failed convert left $work/x behind"
finish
