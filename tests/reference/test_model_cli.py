"""`grpo init` writes a checkpoint transformers loads; `grpo logprobs` gives the next-token
log-probs transformers computes for the same rows (FP32)."""
import json
import os
import subprocess
import tempfile

from refutil import Checks, build_dir, require, source_dir

torch, transformers = require("torch", "transformers")
from transformers import DeepseekV3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_cli_")
grpo = os.path.join(build_dir(), "grpo")


def run(*args):
    return subprocess.run([grpo, *map(str, args)], capture_output=True, text=True)


for cfg in ["tiny.json", "tiny_direct_q.json"]:
    ckpt = os.path.join(tmp, cfg.replace(".json", ""))
    proc = run("init", "--config", os.path.join(source_dir(), "model", "configs", cfg), "--out", ckpt, "--seed", 5)
    checks.check(proc.returncode == 0, f"grpo init {cfg}: {proc.stderr}")
    for name in ["config.json", "model.safetensors", "generation_config.json"]:
        checks.check(os.path.exists(os.path.join(ckpt, name)), f"grpo init wrote {name}")
    again = os.path.join(tmp, "again_" + cfg.replace(".json", ""))
    run("init", "--config", os.path.join(source_dir(), "model", "configs", cfg), "--out", again, "--seed", 5)
    same = open(os.path.join(ckpt, "model.safetensors"), "rb").read() == open(os.path.join(again, "model.safetensors"), "rb").read()
    checks.check(same, f"{cfg}: same seed, same bytes")

    hf = DeepseekV3ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32).eval()
    std = float(hf.model.layers[0].self_attn.kv_b_proj.weight.detach().std())
    checks.check(abs(std - hf.config.initializer_range) < 0.1 * hf.config.initializer_range, f"{cfg}: init std {std}")
    rows = [[0, 5, 9, 300, 2, 17, 17, 400], [3, 1], [11]]
    inp = os.path.join(tmp, "in.jsonl")
    with open(inp, "w") as f:
        for r in rows:
            f.write(json.dumps({"tokens": r}) + "\n")
    out = os.path.join(tmp, "out.jsonl")
    proc = run("logprobs", ckpt, "--input", inp, "--out", out)
    checks.check(proc.returncode == 0, f"grpo logprobs: {proc.stderr}")
    got = [json.loads(line) for line in open(out)]
    checks.check(len(got) == len(rows), "one output row per input row")
    for r, g in zip(rows, got):
        ids = torch.tensor([r])
        with torch.no_grad():
            logits = hf(input_ids=ids).logits.double()
        want = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None])[:, 0]
        mine = torch.tensor(g["logprobs"], dtype=torch.float64)
        ok = mine.shape == want.shape and (mine.numel() == 0 or float((mine - want).abs().max()) <= 1e-5)
        checks.check(ok, f"{cfg}: logprobs {g['logprobs']} vs transformers {want.tolist()}")  # FP32 log-softmax: ~1e-6

    proc = run("logprobs", ckpt, "--input", os.path.join(tmp, "nope.jsonl"))
    checks.check(proc.returncode == 2 and "nope.jsonl" in proc.stderr, f"missing input: {proc.stderr}")
    with open(inp, "w") as f:
        f.write('{"tokens": [1, 2]}\n{"tokens": [1, 99999]}\n')
    proc = run("logprobs", ckpt, "--input", inp)
    checks.check(proc.returncode == 1 and "in.jsonl: line 2: tokens: id 99999" in proc.stderr, f"bad id: {proc.stderr}")

checks.finish()
