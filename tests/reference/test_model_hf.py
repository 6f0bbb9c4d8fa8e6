"""DeepSeek-V3 model vs transformers.DeepseekV3ForCausalLM (FP32) on the two tiny configs, with
weights made on each side and loaded on the other: logits over a padded batch, the final hidden
state, the selected experts, the latent-cache paths (token by token, two-chunk prefill, prefill
then decode), next-token log-probs, gradients of a loss; plus the fused-expert and FP8 layouts
and checkpoint errors."""
import json
import os
import sys
import tempfile

from refutil import Checks, ref_tool, require

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

from model_common import CONFIGS, hf_config, hf_forward, make_batch, perturb_, rel_err, run_ours, config_path  # noqa: E402

torch.manual_seed(0)
transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_hf_")

# FP32 against FP32 through different op orders (einsum vs matmul, grouped vs looped experts):
# errors ~1e-6 of the largest logit; the bound is 1e-4.
TOL = 1e-4
# Gradients add many more reordered sums; per tensor relative to its largest entry.
GRAD_TOL = 1e-3


def compare_forward(ours, hf_logits, hf_hidden, hf_experts, tokens, mask, what):
    e = rel_err(ours["logits"], hf_logits, mask)
    print(f"{what}: logits max|Δ|/max|logit| = {e:.2e} (max|logit| {float(hf_logits.abs().max()):.3f})")
    checks.check(e <= TOL, f"{what}: logits max|Δ|/max|logit| = {e:.2e} > {TOL}")
    e = rel_err(ours["hidden"], hf_hidden, mask)
    checks.check(e <= TOL, f"{what}: last hidden state rel err {e:.2e} > {TOL}")
    valid = mask.reshape(-1).bool()
    checks.check(len(hf_experts) > 0, f"{what}: transformers ran MoE layers")
    for layer, idx in hf_experts.items():
        key = f"experts.{layer}"
        same = key in ours and torch.equal(ours[key][valid], idx[valid])
        checks.check(same, f"{what}: selected experts differ in layer {layer}")
    for path in ["step_logits", "chunked_logits", "prefill_decode_logits"]:
        e = rel_err(ours[path], hf_logits, mask)
        checks.check(e <= TOL, f"{what}: {path} (absorbed latent cache) rel err {e:.2e} > {TOL}")
    lp = torch.log_softmax(hf_logits[:, :-1].double(), -1).gather(-1, tokens[:, 1:, None])[..., 0]
    pair = mask[:, 1:] * mask[:, :-1]
    d = (ours["logprobs"].double() - lp)[pair.bool()].abs().max()
    checks.check(d <= 1e-4, f"{what}: next-token log-probs differ by {float(d):.2e}")


def bias_changes_selection(model, tokens):
    """The randomised e_score_correction_bias must change some choice (else the test is weaker)."""
    gate = next(l.mlp.gate for l in model.model.layers if hasattr(l.mlp, "gate"))
    x = model.model.embed_tokens(tokens).reshape(-1, gate.weight.shape[1])
    with torch.no_grad():
        _, _, with_bias = gate(x)
        saved = gate.e_score_correction_bias.clone()
        gate.e_score_correction_bias.zero_()
        _, _, without = gate(x)
        gate.e_score_correction_bias.copy_(saved)
    return not torch.equal(with_bias.sort(-1).values, without.sort(-1).values)


for cfg_name in CONFIGS:
    tag = cfg_name.replace(".json", "")
    cfg = hf_config(cfg_name, tmp)
    batch, tokens, mask = make_batch(cfg.vocab_size, seed=1)

    # A. Weights made by transformers (save_pretrained) loaded by us.
    hf = DeepseekV3ForCausalLM(cfg).float().eval()
    perturb_(hf, seed=2)
    checks.check(bias_changes_selection(hf, tokens), f"{tag}: random bias changes expert selection")
    dir_a = os.path.join(tmp, f"hf_{tag}")
    hf.save_pretrained(dir_a)
    keys = load_file(os.path.join(dir_a, "model.safetensors")).keys()
    checks.check(any(".mlp.experts.0.gate_proj.weight" in k for k in keys), f"{tag}: transformers saves per-expert layout")
    report = json.loads(ref_tool("model_load", dir_a).stdout)
    checks.check(report["mtp_not_loaded"] == [0], f"{tag}: save_pretrained has no MTP layer, reported: {report}")
    ours = run_ours(dir_a, batch, tmp, f"a_{tag}")
    logits, hidden, experts = hf_forward(hf, tokens, mask)
    compare_forward(ours, logits, hidden, experts, tokens, mask, f"{tag} transformers->ours")
    L = cfg.num_hidden_layers
    expected_bytes = (cfg.kv_lora_rank + cfg.qk_rope_head_dim) * L * 2
    checks.check(int(ours["cache_bytes_per_token_bf16"][0]) == expected_bytes,
                 f"{tag}: cache bytes/token {int(ours['cache_bytes_per_token_bf16'][0])} != (kv_lora+rope)·layers·2 = {expected_bytes}")

    # Gradients of the mean next-token NLL over real tokens.
    grad_in = os.path.join(tmp, f"grad_in_{tag}.json")
    with open(grad_in, "w") as f:
        json.dump(batch, f)
    grad_out = os.path.join(tmp, f"grad_{tag}.safetensors")
    ref_tool("model_grad", dir_a, grad_in, grad_out)
    ours_g = load_file(grad_out)
    hf.zero_grad()
    hf.train(False)
    out = hf(input_ids=tokens, attention_mask=mask)
    lp = torch.log_softmax(out.logits[:, :-1].float(), -1).gather(-1, tokens[:, 1:, None])[..., 0]
    valid = (mask[:, 1:] * mask[:, :-1]).float()
    loss = -(lp * valid).sum() / valid.sum()
    loss.backward()
    loss_v = float(loss.detach())
    checks.check(abs(float(ours_g["loss"][0]) - loss_v) <= 1e-5 * abs(loss_v), f"{tag}: loss {float(ours_g['loss'][0])} vs {loss_v}")
    hf_grads = {}
    for name, p in hf.named_parameters():
        if p.grad is None:
            continue
        if name.endswith("mlp.experts.gate_up_proj"):
            inter = p.shape[1] // 2
            for e in range(p.shape[0]):
                hf_grads[name.replace("gate_up_proj", f"{e}.gate_proj.weight")] = p.grad[e, :inter]
                hf_grads[name.replace("gate_up_proj", f"{e}.up_proj.weight")] = p.grad[e, inter:]
        elif name.endswith("mlp.experts.down_proj"):
            for e in range(p.shape[0]):
                hf_grads[name.replace("down_proj", f"{e}.down_proj.weight")] = p.grad[e]
        else:
            hf_grads[name] = p.grad
    ours_names = {k[len("grad."):] for k in ours_g if k.startswith("grad.")}
    checks.check(ours_names == set(hf_grads), f"{tag}: gradient names differ: {sorted(ours_names ^ set(hf_grads))[:5]}")
    worst, worst_name, kinds = 0.0, "", set()
    for name in sorted(ours_names & set(hf_grads)):
        g_hf, g_ours = hf_grads[name], ours_g["grad." + name]
        scale = float(g_hf.abs().max())
        if scale == 0:
            checks.check(float(g_ours.abs().max()) == 0, f"{tag}: grad {name} should be zero")
            continue
        e = float((g_ours - g_hf).abs().max()) / scale
        if e > worst:
            worst, worst_name = e, name
        kinds.add(name.split(".")[-2])
    print(f"{tag}: worst gradient rel err {worst:.2e} ({worst_name})")
    checks.check(worst <= GRAD_TOL, f"{tag}: gradient {worst_name} rel err {worst:.2e} > {GRAD_TOL}")
    for kind in ["q_a_proj" if cfg.q_lora_rank else "q_proj", "kv_b_proj", "gate_proj", "gate", "input_layernorm", "embed_tokens", "lm_head"]:
        checks.check(kind in kinds, f"{tag}: gradients compared for {kind}")
    hf.zero_grad()

    # B. Weights made by us (grpo init + perturbation) loaded by transformers.
    dir_b = os.path.join(tmp, f"ours_{tag}")
    ref_tool("model_init", config_path(cfg_name), dir_b, 7, "perturb")
    hf_b, info = DeepseekV3ForCausalLM.from_pretrained(dir_b, torch_dtype=torch.float32, output_loading_info=True)
    hf_b.eval()
    checks.check(not info["missing_keys"], f"{tag}: transformers found missing keys in our checkpoint: {sorted(info['missing_keys'])[:5]}")
    unexpected = [k for k in info["unexpected_keys"] if not k.startswith(f"model.layers.{L}.")]
    checks.check(not unexpected, f"{tag}: unexpected keys beyond the MTP layer: {unexpected[:5]}")
    checks.check(any(k.startswith(f"model.layers.{L}.eh_proj") for k in load_file(os.path.join(dir_b, "model.safetensors"))),
                 f"{tag}: our checkpoint stores MTP at layer {L}")
    ours = run_ours(dir_b, batch, tmp, f"b_{tag}")
    logits_b, hidden_b, experts_b = hf_forward(hf_b, tokens, mask)
    compare_forward(ours, logits_b, hidden_b, experts_b, tokens, mask, f"{tag} ours->transformers")

    # C. transformers' in-memory fused expert layout loads too, to the same model.
    dir_c = os.path.join(tmp, f"fused_{tag}")
    os.makedirs(dir_c)
    state = {k: v.contiguous() for k, v in hf.state_dict().items()}
    checks.check(any(k.endswith("mlp.experts.gate_up_proj") for k in state), f"{tag}: in-memory layout is fused")
    save_file(state, os.path.join(dir_c, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dir_c, "config.json"), "w") as f:
        f.write(open(config_path(cfg_name)).read())
    report = json.loads(ref_tool("model_load", dir_c).stdout)
    checks.check(report["fused_experts"], f"{tag}: fused layout reported: {report}")
    fused = run_ours(dir_c, batch, tmp, f"c_{tag}")
    ours_a = run_ours(dir_a, batch, tmp, f"a2_{tag}")
    checks.check(torch.equal(fused["logits"], ours_a["logits"]), f"{tag}: fused layout gives other logits")

    # D. FP8 block-scaled weights (F8_E4M3 + weight_scale_inv) are dequantised on load.
    dir_d = os.path.join(tmp, f"fp8_{tag}")
    os.makedirs(dir_d)
    state = load_file(os.path.join(dir_a, "model.safetensors"))
    hf_deq = DeepseekV3ForCausalLM(cfg).float().eval()
    hf_deq.load_state_dict(hf.state_dict())
    n_fp8 = 0
    for name in list(state):
        if name.endswith(("kv_a_proj_with_mqa.weight", "o_proj.weight")):
            w = state[name]
            rows, cols = (w.shape[0] + 127) // 128, (w.shape[1] + 127) // 128
            padded = torch.zeros(rows * 128, cols * 128)
            padded[: w.shape[0], : w.shape[1]] = w
            blocks = padded.view(rows, 128, cols, 128)
            scale = (blocks.abs().amax(dim=(1, 3)).clamp(min=1e-4) / 448.0)  # [rows, cols]
            q = (blocks / scale[:, None, :, None]).clamp(-448, 448).to(torch.float8_e4m3fn)
            deq = (q.float() * scale[:, None, :, None]).view(rows * 128, cols * 128)[: w.shape[0], : w.shape[1]]
            state[name] = q.view(rows * 128, cols * 128)[: w.shape[0], : w.shape[1]].contiguous()
            state[name + "_scale_inv"] = scale.contiguous()
            hf_deq.state_dict()[name].copy_(deq)
            n_fp8 += 1
    save_file(state, os.path.join(dir_d, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dir_d, "config.json"), "w") as f:
        f.write(open(config_path(cfg_name)).read())
    report = json.loads(ref_tool("model_load", dir_d).stdout)
    checks.check(report["fp8_weights"] == n_fp8, f"{tag}: {report['fp8_weights']} FP8 weights dequantised, expected {n_fp8}")
    fp8 = run_ours(dir_d, batch, tmp, f"d_{tag}")
    logits_d, hidden_d, experts_d = hf_forward(hf_deq, tokens, mask)
    e = rel_err(fp8["logits"], logits_d, mask)
    checks.check(e <= TOL, f"{tag}: FP8 checkpoint logits rel err {e:.2e} > {TOL}")

    # E. A checkpoint with missing, unexpected and mis-shaped tensors: one error naming each.
    dir_e = os.path.join(tmp, f"bad_{tag}")
    os.makedirs(dir_e)
    state = load_file(os.path.join(dir_a, "model.safetensors"))
    del state["model.layers.0.self_attn.kv_b_proj.weight"]
    state["model.layers.0.self_attn.surprise.weight"] = torch.zeros(2)
    state["model.norm.weight"] = torch.ones(3)
    save_file(state, os.path.join(dir_e, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(dir_e, "config.json"), "w") as f:
        f.write(open(config_path(cfg_name)).read())
    proc = ref_tool("model_load", dir_e, check=False)
    for needle in ["model.layers.0.self_attn.kv_b_proj.weight", "model.layers.0.self_attn.surprise.weight",
                   "model.norm.weight: has shape [3]", "missing tensors (1)", "unexpected tensors (1)", dir_e]:
        checks.check(proc.returncode == 1 and needle in proc.stderr, f"{tag}: bad checkpoint error lacks {needle!r}: {proc.stderr[:500]!r}")

checks.finish()
