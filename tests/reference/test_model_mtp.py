"""MTP (spec §5) against an independent reference with plain torch ops (model_common.mtp_reference;
transformers does not run MTP layers): h'_i = eh_proj([enorm(Emb(t_{i+1})) ; hnorm(h_i)]), one decoder layer
(transformers' DeepseekV3DecoderLayer with the checkpoint's layer-L weights), then
lm_head(shared_head.norm(.)) predicting t_{i+2}; and L_MTP = λ·mean_b (1/T_b) Σ_i −log P_i[t_{i+2}]."""
import os
import tempfile

from refutil import Checks, ref_tool, require

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

from model_common import CONFIGS, config_path, make_batch, mtp_reference, run_ours  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_mtp_")
TOL = 1e-4  # FP32 vs FP32 through different op orders, relative to max|logit| (as test_model_hf)
LAMBDA = 0.3  # grpo_ref model_run uses λ = 0.3 (TR §4.2, first 10T tokens)


for cfg_name in CONFIGS:
    tag = cfg_name.replace(".json", "")
    ckpt = os.path.join(tmp, tag)
    ref_tool("model_init", config_path(cfg_name), ckpt, 11, "perturb")
    state = load_file(os.path.join(ckpt, "model.safetensors"))
    hf = DeepseekV3ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    cfg = hf.config
    L, eps = cfg.num_hidden_layers, cfg.rms_norm_eps
    p = f"model.layers.{L}."

    checks.check(torch.equal(state[p + "embed_tokens.weight"], state["model.embed_tokens.weight"]),
                 f"{tag}: MTP layer stores a copy of the embedding")
    checks.check(torch.equal(state[p + "shared_head.head.weight"], state["lm_head.weight"]),
                 f"{tag}: MTP layer stores a copy of lm_head")

    batch, tokens, mask = make_batch(cfg.vocab_size, seed=3)
    B, S = tokens.shape
    logits, x, h_in = mtp_reference(hf, state, tokens, mask)
    with torch.no_grad():
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
