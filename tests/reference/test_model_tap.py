"""The activation tap (model/activation_tap.h) on the rollout path against transformers' forward
hooks: each row alone through rollout::PagedModel (a prefill of 5 tokens, then one decode step per
token), every recorded intermediate (embed_tokens; per layer input_layernorm, q_a_proj /
q_a_layernorm / q_b_proj or q_proj, kv_a_proj_with_mqa (the latent, k_pe not yet rotated),
kv_a_layernorm (what the cache holds), o_proj (the attention output), post_attention_layernorm,
mlp (the MoE or MLP output), the layer output; norm; lm_head) compared with the output of the
transformers module of the same name. A mismatch is reported at the first name, in forward order,
that differs; a deliberately changed norm weight of the last layer must be localised to that module."""
import json
import os
import tempfile

from refutil import Checks, ref_tool, require

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

from model_common import CONFIGS, config_path, make_batch, write_json  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_tap_")
# FP32 against FP32 through different op orders, per tensor relative to its largest entry: as
# test_model_hf's logits bound (measured: see the printed worst error).
TOL = 1e-4


def hooked_forward(model, tokens):
    """Output of every named module of the model for tokens [1, S], by module name."""
    seen, hooks = {}, []

    def keep(name, out):
        out = out[0] if isinstance(out, tuple) else out
        if torch.is_tensor(out):  # the attention returns (output, weights); the model an output object
            seen[name] = out.detach()

    for name, mod in model.named_modules():
        if name:
            hooks.append(mod.register_forward_hook(lambda m, i, o, name=name: keep(name, o)))
    with torch.no_grad():
        model(input_ids=tokens)
    for h in hooks:
        h.remove()
    return seen


def first_mismatch(ours, hf_acts, order, b, n):
    """(first name beyond TOL or None, worst error, its name, names compared) for row b."""
    first, worst, worst_name, compared = None, 0.0, "", 0
    for name in order:
        ref = hf_acts.get(name)
        if ref is None:
            continue
        got = ours[f"tap.{b}.{name}"][0]  # [n, ...]
        ref = ref[0, :n]
        e = float((got - ref).abs().max() / ref.abs().max().clamp(min=1e-30))
        compared += 1
        if e > worst:
            worst, worst_name = e, name
        if e > TOL and first is None:
            first = (name, e)
    return first, worst, worst_name, compared


for cfg_name in CONFIGS:
    tag = cfg_name.replace(".json", "")
    ckpt = os.path.join(tmp, tag)
    ref_tool("model_init", config_path(cfg_name), ckpt, 17, "perturb")
    hf = DeepseekV3ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    L = hf.config.num_hidden_layers
    batch, tokens, mask = make_batch(hf.config.vocab_size, seed=5)
    out = os.path.join(tmp, f"tap_{tag}.safetensors")
    ref_tool("paged_tap", ckpt, write_json(batch, os.path.join(tmp, f"in_{tag}.json")), out)
    ours = load_file(out)
    order = json.load(open(out + ".json"))

    q = ["q_a_proj", "q_a_layernorm", "q_b_proj"] if hf.config.q_lora_rank else ["q_proj"]
    per_layer = ["input_layernorm"] + [f"self_attn.{x}" for x in q + ["kv_a_proj_with_mqa", "kv_a_layernorm", "o_proj"]]
    per_layer += ["post_attention_layernorm", "mlp", ""]
    expected = ["model.embed_tokens"] + [f"model.layers.{i}" + (f".{x}" if x else "") for i in range(L) for x in per_layer]
    expected += ["model.norm", "lm_head"]
    checks.check(sorted(order) == sorted(expected), f"{tag}: tap names {sorted(set(order) ^ set(expected))[:6]} differ")

    worst_all = (0.0, "")
    for b in range(tokens.shape[0]):
        n = int(mask[b].sum())
        acts = hooked_forward(hf, tokens[b : b + 1, :n])
        first, worst, worst_name, compared = first_mismatch(ours, acts, order, b, n)
        checks.check(compared == len(expected), f"{tag} row {b}: compared {compared} of {len(expected)} names")
        checks.check(first is None, f"{tag} row {b}: first intermediate beyond {TOL}: {first}")
        if worst > worst_all[0]:
            worst_all = (worst, worst_name)
    print(f"{tag}: {len(expected)} intermediates × {tokens.shape[0]} rows, worst rel err {worst_all[0]:.2e} "
          f"({worst_all[1]}), tolerance {TOL}")

    # The test can fail, and says where: change one norm weight of the last layer on transformers' side.
    target = f"model.layers.{L - 1}.self_attn.kv_a_layernorm"
    with torch.no_grad():
        hf.get_submodule(target).weight.mul_(1.01)
    n = int(mask[0].sum())
    first, _, _, _ = first_mismatch(ours, hooked_forward(hf, tokens[:1, :n]), order, 0, n)
    print(f"{tag}: with {target}.weight × 1.01 the first mismatch is {first}")
    checks.check(first is not None and first[0] == target, f"{tag}: a changed {target} was localised to {first}")

checks.finish()
