"""`grpo convert` against Python: the FP8 output is DeepSeek's layout (F8_E4M3 + FP32
weight_scale_inv per 128x128 block, quantization_config), its codes and scales equal DeepGEMM's
per_block_cast_to_fp8 written in torch, transformers 5 loads it, and fp32 -> fp8 -> bf16 stays
within the quantization error bound.

transformers' FineGrainedFP8 integration needs a GPU (or XPU) to run FP8 kernels; on a CPU it
logs "Using FP8 quantized models requires a GPU or XPU, we will default to dequantizing the model
to bf16" and dequantizes on load (quantizers/quantizer_finegrained_fp8.py). So on this machine the
check is: transformers accepts the folder and its config, and the weights it ends up with equal
code * scale_inv in BF16."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

from refutil import Checks, build_dir, require, source_dir

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_convert_")
atexit.register(shutil.rmtree, tmp, ignore_errors=True)
grpo = os.path.join(build_dir(), "grpo")
if not os.path.exists(grpo):
    print(f"SKIP: {grpo} not built")
    sys.exit(77)


def run(*args):
    p = subprocess.run([grpo, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError(f"grpo {' '.join(args)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return p.stdout


def per_block_cast_to_fp8(w):
    """Spec §6.3's weight quantizer (DeepGEMM's per_block_cast_to_fp8): zero-pad to 128, amax per
    block clamped to 1e-4, s = amax/448, q = fp8(clamp(w/s, ±448)), crop. Returns (q, s).
    DeepGEMM itself multiplies by 448/amax instead of dividing by s; that differs in the last
    float bit for a few elements per million and can move one across an e4m3 rounding boundary,
    so the spec's division (the same as tests/reference/test_fp8_codec.py) is the bit-exact
    reference here."""
    m, n = w.shape
    pm, pn = -(-m // 128) * 128, -(-n // 128) * 128
    padded = torch.zeros(pm, pn, dtype=torch.float32)
    padded[:m, :n] = w
    v = padded.view(pm // 128, 128, pn // 128, 128)
    amax = v.abs().amax(dim=(1, 3), keepdim=True).clamp(min=1e-4)
    q = (v / (amax / 448.0)).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)
    return q.view(pm, pn)[:m, :n].contiguous(), (amax / 448.0).view(pm // 128, pn // 128)


def expand(scale, shape):
    return scale.repeat_interleave(128, 0).repeat_interleave(128, 1)[: shape[0], : shape[1]]


fp32_dir, fp8_dir, bf16_dir = (os.path.join(tmp, n) for n in ("fp32", "fp8", "bf16"))
run("init", "--config", os.path.join(source_dir(), "model", "configs", "tiny.json"), "--out", fp32_dir, "--seed", "3")
print(run("convert", "--to", "fp8", fp32_dir, fp8_dir).strip())
print(run("convert", "--to", "bf16", fp8_dir, bf16_dir).strip())

orig = load_file(os.path.join(fp32_dir, "model.safetensors"))
fp8 = load_file(os.path.join(fp8_dir, "model.safetensors"))
bf16 = load_file(os.path.join(bf16_dir, "model.safetensors"))
cfg8 = json.load(open(os.path.join(fp8_dir, "config.json")))
cfg16 = json.load(open(os.path.join(bf16_dir, "config.json")))
checks.check(cfg8.get("quantization_config") == {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                                 "weight_block_size": [128, 128]},
             f"fp8 config.json quantization_config is {cfg8.get('quantization_config')}")
checks.check("quantization_config" not in cfg16, "bf16 config.json still has a quantization_config")

fp8_names = [n for n, t in fp8.items() if t.dtype == torch.float8_e4m3fn]
print(f"{len(fp8_names)} F8_E4M3 weights, {len(fp8) - 2 * len(fp8_names)} other tensors")
checks.check(len(fp8_names) > 0, "no F8_E4M3 tensors in the fp8 output")
for name, t in fp8.items():
    if t.dtype == torch.float8_e4m3fn:
        continue
    if name.endswith("_scale_inv"):
        checks.check(name[: -len("_scale_inv")] in fp8, f"{name} has no weight")
        continue
    want = torch.float32 if name.endswith("e_score_correction_bias") else torch.bfloat16
    checks.check(t.dtype == want, f"{name}: {t.dtype}, expected {want}")
for name in ["lm_head.weight", "model.embed_tokens.weight", "model.layers.1.mlp.gate.weight", "model.layers.4.eh_proj.weight"]:
    checks.check(name in fp8 and fp8[name].dtype == torch.bfloat16, f"{name} should stay BF16")
for name in ["model.layers.1.self_attn.kv_a_proj_with_mqa.weight", "model.layers.2.mlp.experts.7.down_proj.weight",
             "model.layers.0.mlp.up_proj.weight", "model.layers.4.mlp.shared_experts.gate_proj.weight"]:
    checks.check(name in fp8_names, f"{name} should be F8_E4M3")

# Codes and scales equal DeepGEMM's quantizer applied to the FP32 weights, bit for bit.
bad = []
for name in fp8_names:
    q, s = per_block_cast_to_fp8(orig[name].float())
    if not (torch.equal(q.view(torch.uint8), fp8[name].view(torch.uint8)) and torch.equal(s, fp8[name + "_scale_inv"])):
        bad.append(name)
checks.check(not bad, f"{len(bad)} weights differ from per_block_cast_to_fp8, e.g. {bad[:3]}")

# fp32 -> fp8 -> bf16 within the bound: e4m3 rounding is at most half an ulp, 2^-4 relative for
# normals and half the subnormal step (2^-10 · scale) below; BF16 adds at most 2^-9 relative.
worst = 0.0
for name in fp8_names:
    w, s = orig[name].float(), expand(fp8[name + "_scale_inv"], orig[name].shape)
    deq = fp8[name].float() * s
    checks.check(torch.equal(bf16[name], deq.to(torch.bfloat16)), f"{name}: bf16 output != dequantized fp8")
    bound = 2.0**-4 * w.abs() + 2.0**-10 * s + 2.0**-9 * deq.abs() + 1e-12
    ratio = float(((bf16[name].float() - w).abs() / bound).max())
    worst = max(worst, ratio)
print(f"round trip fp32 -> fp8 -> bf16: worst |error| / bound = {worst:.3f}")
checks.check(worst <= 1.0, f"round-trip error exceeds the quantization bound ({worst:.3f} x)")
for name, t in orig.items():
    if name not in fp8_names:
        want = t if name.endswith("e_score_correction_bias") else t.to(torch.bfloat16)
        checks.check(torch.equal(bf16[name], want), f"{name}: not the original in bf16")

# transformers loads the FP8 folder (dequantizing on CPU) and the BF16 one. Its FP8 loader
# needs the accelerate package (not in scripts/setup.sh's list yet): without it, everything above
# has been checked and this part is reported as skipped (exit 77 when nothing failed).
try:
    import accelerate  # noqa: F401
except ImportError:
    print("SKIP: transformers' FP8 loader needs `accelerate` (pip install accelerate); layout checks done")
    if checks.failed:
        checks.finish()
    print(f"{checks.passed} passed, 0 failed, transformers load skipped")
    sys.exit(77)
m8 = DeepseekV3ForCausalLM.from_pretrained(fp8_dir)
sd = m8.state_dict()
# transformers 5.23's CPU dequantizer (integrations/finegrained_fp8.py, Fp8Dequantize) derives the
# block size as rows // scale_rows instead of using weight_block_size, so a partial last tile
# (spec §6.1: the grid is ceil(dim/128)) is dequantized with the wrong blocks: tiny's q_b_proj
# (192 rows, 2 scale rows) gets 96-row blocks, and DeepSeek-V3's own kv_a_proj_with_mqa (576 rows,
# 5 scale rows) makes it raise "not divisible by scale grid". That is its bug, not the layout's:
# full-tile weights are checked against it, ragged ones are replaced by the correct
# dequantization before the logits comparison.
def deq(n):
    return (fp8[n].float() * expand(fp8[n + "_scale_inv"], fp8[n].shape)).to(torch.bfloat16)
full = [n for n in fp8_names if n in sd and fp8[n].shape[0] % 128 == 0 and fp8[n].shape[1] % 128 == 0]
ragged = [n for n in fp8_names if n in sd and n not in full]
print(f"transformers loaded {len(full)} full-tile and {len(ragged)} ragged FP8 weights by name "
      f"(routed experts are fused in its modules)")
checks.check(len(full) > 0, "transformers' model has none of the full-tile FP8 weights by name")
bad = [n for n in full if not torch.equal(sd[n], deq(n).to(sd[n].dtype))]
checks.check(not bad, f"transformers' dequantized weights != code * scale_inv for {bad[:3]}")
with torch.no_grad():
    for n in ragged:
        sd[n].copy_(deq(n))
m16 = DeepseekV3ForCausalLM.from_pretrained(bf16_dir)
m32 = DeepseekV3ForCausalLM.from_pretrained(fp32_dir, dtype=torch.float32)
tokens = torch.randint(0, cfg8["vocab_size"], (2, 24))
with torch.no_grad():
    l32 = m32(tokens).logits.float()
    l8 = m8.float()(tokens).logits.float()
    l16 = m16.float()(tokens).logits.float()
# Same dequantized weights in both folders (the routed experts through transformers' own fused
# dequantization), so transformers' logits agree exactly.
checks.check(torch.equal(l8, l16), "transformers: fp8 folder and bf16 folder give different logits")
# Against FP32: e4m3 weights (≈2.6% RMS relative error each) compounded over the layers, plus
# MoE top-k choices that flip; 0.3 is the bound the C++ tests derive for FP8 logits
# (tests/unit/model/test_fp8_linear.cpp), a broken conversion gives ≈ 1.
e = float((l8 - l32).norm() / l32.norm())
print(f"transformers logits, fp8-converted vs fp32 original: relative error {e:.4f}")
checks.check(e < 0.3, f"fp8 logits relative error {e:.4f} >= 0.3")
checks.finish()
