"""Peer of bench/bench_train: one GRPO training step (forward, hand-written GRPO loss, backward,
AdamW step) with Hugging Face transformers' DeepseekV3ForCausalLM on the same checkpoint, batch
and thread count. TRL's GRPOTrainer is not installed here, so the loss is written out below
exactly as learner/policy_loss.h computes the `grpo` preset with kl_coef 0: token ratio
exp(logp - old_logp), clip to [1 - 0.2, 1 + 0.2], per-token -min(ratio*A, clip(ratio)*A),
averaged over each sequence's completion tokens, then over sequences.

Prints one JSON line: {"tokens_per_step": n, "step_seconds": [s, ...], "loss": first step's loss}
(the caller reports the median and the best step: the machine may be shared).

usage: peer_train.py CKPT BATCH.json --steps N --warmup W --threads T --lr X
BATCH.json: {"tokens": [[ids...], ...], "prompt_len": P, "advantages": [a, ...]} (equal lengths).
"""
import argparse
import json
import time

import torch
import transformers
from transformers import DeepseekV3ForCausalLM


def grpo_loss(model, tokens, prompt_len, old_logp, adv, eps=0.2):
    logits = model(input_ids=tokens).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)  # [B, S-1]
    mask = torch.zeros_like(logp)
    mask[:, prompt_len - 1:] = 1.0  # targets that are completion tokens
    ratio = torch.exp(logp - old_logp)
    a = adv.unsqueeze(1)
    per_token = -torch.minimum(ratio * a, ratio.clamp(1 - eps, 1 + eps) * a)
    per_seq = (per_token * mask).sum(1) / mask.sum(1)
    return per_seq.mean(), logp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("batch")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    spec = json.load(open(args.batch))
    tokens = torch.tensor(spec["tokens"], dtype=torch.long)
    adv = torch.tensor(spec["advantages"], dtype=torch.float32)
    prompt_len = spec["prompt_len"]
    model = DeepseekV3ForCausalLM.from_pretrained(args.ckpt, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    with torch.no_grad():
        _, old_logp = grpo_loss(model, tokens, prompt_len, torch.zeros(1), adv)  # on-policy: π_old = π
    first = None
    step_seconds = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, _ = grpo_loss(model, tokens, prompt_len, old_logp, adv)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if first is None:
            first = loss.item()
        if i >= args.warmup:
            step_seconds.append(time.perf_counter() - t0)
    n = tokens.numel()
    print(json.dumps({"tokens_per_step": n, "step_seconds": step_seconds, "loss": first}))


if __name__ == "__main__":
    main()
