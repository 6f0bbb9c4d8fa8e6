"""The code rollouts run against transformers.DeepseekV3ForCausalLM (FP32), on the two tiny configs
with weights made by us (grpo init + perturbation) and loaded by transformers: the rollout engine's
paged forward (rollout::PagedModel, FFNs in their decode layout, pages of 4 positions) over a
prefill of 5 tokens for three rows at once and then steps that append 1 or 2 tokens to each row at
its own length (decode steps, speculative verifies); its MTP draft forward over the same schedule
(against model_common.mtp_reference); and the Generator itself, greedy with and without drafting,
whose tokens must be transformers' arg-max and whose behaviour log-probs its log-softmax."""
import os
import tempfile

from refutil import Checks, ref_tool, require

torch, transformers, safetensors = require("torch", "transformers", "safetensors")
from safetensors.torch import load_file  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

from model_common import CONFIGS, config_path, make_batch, mtp_reference, rel_err, write_json  # noqa: E402

transformers.logging.set_verbosity_error()
checks = Checks()
tmp = tempfile.mkdtemp(prefix="grpo_test_model_paged_")
# FP32 against FP32 through different op orders (absorbed vs expanded attention, packed vs per-
# projection expert GEMMs), relative to the largest logit: as test_model_hf (measured ~1e-6).
TOL = 1e-4
# Behaviour log-probs, absolute: log-softmax of logits that agree to TOL·max|logit| (~3).
LOGPROB_TOL = 1e-4
NEW_TOKENS = 6

for cfg_name in CONFIGS:
    tag = cfg_name.replace(".json", "")
    ckpt = os.path.join(tmp, tag)
    ref_tool("model_init", config_path(cfg_name), ckpt, 13, "perturb")
    state = load_file(os.path.join(ckpt, "model.safetensors"))
    hf = DeepseekV3ForCausalLM.from_pretrained(ckpt, torch_dtype=torch.float32, attn_implementation="eager").eval()
    batch, tokens, mask = make_batch(hf.config.vocab_size, seed=4)
    batch["new_tokens"] = NEW_TOKENS
    out = os.path.join(tmp, f"paged_{tag}.safetensors")
    ref_tool("paged_run", ckpt, write_json(batch, os.path.join(tmp, f"in_{tag}.json")), out)
    ours = load_file(out)
    with torch.no_grad():
        hf_out = hf(input_ids=tokens, attention_mask=mask, output_hidden_states=True)

    e = rel_err(ours["paged_logits"], hf_out.logits, mask)
    print(f"{tag}: paged prefill+decode logits max|Δ|/max|logit| = {e:.2e} (tolerance {TOL})")
    checks.check(e <= TOL, f"{tag}: paged prefill+decode logits rel err {e:.2e} > {TOL}")
    e = rel_err(ours["paged_hidden"], hf_out.hidden_states[-1], mask)
    checks.check(e <= TOL, f"{tag}: paged last hidden state rel err {e:.2e} > {TOL}")
    # The prefill rows alone, so a decode-only error cannot hide behind a good prefill or back.
    pre = torch.zeros_like(mask)
    pre[:, : batch["chunk"]] = mask[:, : batch["chunk"]]
    dec = mask - pre
    for what, m in [("prefill", pre), ("decode", dec)]:
        e = rel_err(ours["paged_logits"], hf_out.logits, m)
        print(f"{tag}: {what} positions: {e:.2e}")
        checks.check(e <= TOL, f"{tag}: paged {what} logits rel err {e:.2e} > {TOL}")

    ref_mtp, _, _ = mtp_reference(hf, state, tokens, mask)
    cmp = torch.zeros_like(mask)
    cmp[:, :-1] = mask[:, 1:]  # positions whose input token t_{i+1} is real
    e = rel_err(ours["paged_mtp_logits"], ref_mtp, cmp)
    print(f"{tag}: paged MTP draft logits max|Δ|/max|logit| = {e:.2e} (tolerance {TOL})")
    checks.check(e <= TOL, f"{tag}: paged MTP logits rel err {e:.2e} > {TOL}")

    # The Generator: each row's real tokens as the prompt, greedy, NEW_TOKENS new ones.
    for spec in [0, 1]:
        worst_lp = 0.0
        for b in range(tokens.shape[0]):
            n = int(mask[b].sum())
            gen = ours[f"gen.{spec}.{b}.tokens"]
            checks.check(len(gen) == NEW_TOKENS, f"{tag} spec={spec} row {b}: {len(gen)} tokens, wanted {NEW_TOKENS}")
            seq = torch.cat([tokens[b, :n], gen])[None]
            with torch.no_grad():
                logits = hf(input_ids=seq).logits[0, n - 1 : n - 1 + len(gen)]  # predicts each new token
            lp = torch.log_softmax(logits.double(), -1)
            for i, t in enumerate(gen.tolist()):
                # A near-tie may flip under FP32 reordering; anything else must be the arg-max.
                gap = float(logits[i].max() - logits[i, t])
                checks.check(gap <= TOL * float(logits.abs().max()),
                             f"{tag} spec={spec} row {b} step {i}: token {t} is {gap:.2e} below transformers' arg-max")
            d = float((ours[f"gen.{spec}.{b}.logprobs"].double() - lp.gather(-1, gen[:, None])[:, 0]).abs().max())
            worst_lp = max(worst_lp, d)
        print(f"{tag} generator spec={spec}: greedy tokens are transformers' arg-max; log-prob max|Δ| = {worst_lp:.2e}")
        checks.check(worst_lp <= LOGPROB_TOL, f"{tag} spec={spec}: behaviour log-probs differ by {worst_lp:.2e}")

checks.finish()
