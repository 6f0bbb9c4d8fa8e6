"""Helpers shared by the model reference tests (test_model_*.py)."""
import json
import os
import shutil

import torch
from safetensors.torch import load_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from refutil import ref_tool, source_dir

CONFIGS = ["tiny.json", "tiny_direct_q.json"]


def config_path(name):
    return os.path.join(source_dir(), "model", "configs", name)


def hf_config(name, tmp):
    folder = os.path.join(tmp, "cfg_" + name.replace(".json", ""))
    os.makedirs(folder, exist_ok=True)
    shutil.copy(config_path(name), os.path.join(folder, "config.json"))
    return DeepseekV3Config.from_pretrained(folder)


def perturb_(model, seed):
    """Random routing biases (so selection differs from the pure scores) and norm weights != 1."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.05)


def make_batch(vocab, seed, lengths=(12, 9, 5), chunk=5):
    """Right-padded batch: rows of the given real lengths, pad id 0, attention mask 1/0."""
    g = torch.Generator().manual_seed(seed)
    s = max(lengths)
    tokens = torch.randint(2, vocab, (len(lengths), s), generator=g)
    mask = torch.zeros(len(lengths), s, dtype=torch.long)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    tokens = tokens * mask
    return {"tokens": tokens.tolist(), "mask": mask.tolist(), "chunk": chunk}, tokens, mask


def write_json(obj, path):
    with open(path, "w") as f:
        json.dump(obj, f)
    return path


def run_ours(ckpt, batch, tmp, tag):
    inp = write_json(batch, os.path.join(tmp, f"in_{tag}.json"))
    out = os.path.join(tmp, f"out_{tag}.safetensors")
    ref_tool("model_run", ckpt, inp, out)
    return load_file(out)


def hf_forward(model, tokens, mask):
    """Logits, final hidden state and the sorted selected experts per MoE layer (by layer index)."""
    experts = {}
    hooks = []
    for i, layer in enumerate(model.model.layers):
        gate = getattr(layer.mlp, "gate", None)
        if gate is not None and hasattr(gate, "e_score_correction_bias"):
            hooks.append(gate.register_forward_hook(
                lambda mod, inp, out, i=i: experts.__setitem__(i, out[2].sort(-1).values)))
    with torch.no_grad():
        out = model(input_ids=tokens, attention_mask=mask, output_hidden_states=True)
    for h in hooks:
        h.remove()
    return out.logits, out.hidden_states[-1], experts


def rel_err(a, b, mask):
    """max|a-b| / max|b| over real positions (mask [B, S])."""
    sel = mask.bool()
    a, b = a[sel], b[sel]
    return float((a - b).abs().max() / b.abs().max())


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def mtp_reference(hf, state, tokens, mask):
    """MTP module 1 written here with plain torch ops around transformers' DeepseekV3DecoderLayer
    (transformers does not run MTP layers) loaded with the checkpoint's layer-L weights:
    h'_i = eh_proj([enorm(Emb(t_{i+1})) ; hnorm(h_i)]), the decoder layer, then
    lm_head(shared_head.norm(.)) predicting t_{i+2}. Returns logits [B, S, V] and the eh_proj input
    x and output h_in (for checks on the concatenation order)."""
    from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3DecoderLayer
    cfg = hf.config
    L, eps = cfg.num_hidden_layers, cfg.rms_norm_eps
    p = f"model.layers.{L}."
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
    return logits, x, h_in
