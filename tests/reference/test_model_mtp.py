"""MTP (spec §5) against an independent reference written here with plain torch ops (transformers
does not run MTP layers): h'_i = eh_proj([enorm(Emb(t_{i+1})) ; hnorm(h_i)]), one decoder layer
(transformers' DeepseekV3DecoderLayer with the checkpoint's layer-L weights), then
lm_head(shared_head.norm(.)) predicting t_{i+2}; and L_MTP = λ·mean_b (1/T_b) Σ_i −log P_i[t_{i+2}]."""
import os
import tempfile

from refutil import Checks, ref_tool, require

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer  # noqa: E402

from model_common import CONFIGS, config_path, make_batch, run_ours  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_mtp_")
TOL = 1e-4  # FP32 vs FP32 through different op orders, relative to max|logit| (as test_model_hf)
LAMBDA = 0.3  # grpo_ref model_run uses λ = 0.3 (TR §4.2, first 10T tokens)


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


for cfg_name in CONFIGS:
    tag = cfg_name.replace(".json", "")
    ckpt = os.path.join(tmp, tag)
    ref_tool("model_init", config_path(cfg_name), ckpt, 11, "perturb")
    state = load_file(os.path.join(ckpt, "model.safetensors"))
    hf = DeepseekV3ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    cfg = hf.config
    L, eps = cfg.num_hidden_layers, cfg.rms_norm_eps
    p = f"model.layers.{L}."

    # The MTP block: transformers' decoder layer class, loaded with the stored layer-L weights.
    layer = DeepseekV3DecoderLayer(cfg, layer_idx=L).float().eval()
    sub = {}
    E = cfg.n_routed_experts
    for name in layer.state_dict():
        if name == "mlp.experts.gate_up_proj":
            sub[name] = torch.stack([torch.cat([state[p + f"mlp.experts.{e}.gate_proj.weight"],
                                                state[p + f"mlp.experts.{e}.up_proj.weight"]]) for e in range(E)])
        elif name == "mlp.experts.down_proj":
            sub[name] = torch.stack([state[p + f"mlp.experts.{e}.down_proj.weight"] for e in range(E)])
        else:
            sub[name] = state[p + name]
    layer.load_state_dict(sub)
    checks.check(torch.equal(state[p + "embed_tokens.weight"], state["model.embed_tokens.weight"]),
                 f"{tag}: MTP layer stores a copy of the embedding")
    checks.check(torch.equal(state[p + "shared_head.head.weight"], state["lm_head.weight"]),
                 f"{tag}: MTP layer stores a copy of lm_head")

    batch, tokens, mask = make_batch(cfg.vocab_size, seed=3)
    B, S = tokens.shape
    with torch.no_grad():
        out = hf(input_ids=tokens, attention_mask=mask, output_hidden_states=True)
        h_main = out.hidden_states[-1]  # after model.norm: the lm_head input
        nxt = torch.zeros_like(tokens)
        nxt[:, :-1] = tokens[:, 1:]
        emb = torch.nn.functional.embedding(nxt, state["model.embed_tokens.weight"])
        x = torch.cat([rms(emb, state[p + "enorm.weight"], eps), rms(h_main, state[p + "hnorm.weight"], eps)], -1)
        h_in = x @ state[p + "eh_proj.weight"].T
        pos = torch.arange(S)[None].expand(B, S)
        cos_sin = hf.model.rotary_emb(h_in, pos)
        allowed = (torch.arange(S)[None, :] <= torch.arange(S)[:, None])[None] & mask.bool()[:, None, :]
        add_mask = torch.zeros(B, 1, S, S).masked_fill(~allowed[:, None], torch.finfo(torch.float32).min)
        h1 = layer(h_in, attention_mask=add_mask, position_embeddings=cos_sin, position_ids=pos)
        if isinstance(h1, tuple):
            h1 = h1[0]
        logits = rms(h1, state[p + "shared_head.norm.weight"], eps) @ state["lm_head.weight"].T  # [B, S, V]

        lp = torch.log_softmax(logits[:, : S - 2].double(), -1).gather(-1, tokens[:, 2:, None])[..., 0]
        ok = (mask[:, 2:] * mask[:, : S - 2]).double()
        loss = LAMBDA * ((-(lp * ok)).sum(1) / mask.sum(1).double()).mean()

    ours = run_ours(ckpt, batch, tmp, tag)
    cmp = torch.zeros(B, S, dtype=torch.bool)
    cmp[:, :-1] = mask[:, 1:].bool()  # positions whose input token t_{i+1} is real
    d = float((ours["mtp_logits.0"][cmp] - logits[cmp]).abs().max() / logits[cmp].abs().max())
    print(f"{tag}: MTP logits rel err {d:.2e}, loss ours {float(ours['mtp_loss'][0]):.6f} ref {float(loss):.6f}")
    checks.check(d <= TOL, f"{tag}: MTP logits rel err {d:.2e} > {TOL}")
    checks.check(abs(float(ours["mtp_loss"][0]) - float(loss)) <= 1e-5 * float(loss), f"{tag}: MTP loss differs")
    # The order of the concatenation matters: swapping it must change the result (the test can fail).
    with torch.no_grad():
        swapped = torch.cat([x[..., cfg.hidden_size:], x[..., : cfg.hidden_size]], -1) @ state[p + "eh_proj.weight"].T
    checks.check(float((swapped - h_in).abs().max()) > 1e-3, f"{tag}: eh_proj input order is observable")

checks.finish()
