"""Peer of bench/bench_generate: Hugging Face transformers `generate` on the same checkpoint,
prompts and thread count. Prints one JSON line per group size:
{"G": G, "tokens": n, "seconds": s, "tokens_per_s": n/s, "cache_bytes": bytes of the KV cache}.

usage: peer_generate.py CKPT PROMPTS.json --groups 1,8,16 --new-tokens N --threads T
PROMPTS.json: {"prompts": [[ids...], ...]} (all the same length: no padding on either side).
"""
import argparse
import json
import sys
import time

import torch
import transformers
from transformers import DeepseekV3ForCausalLM


def cache_bytes(cache):
    """Bytes of the key/value tensors transformers kept (DynamicCache in 5.x, tuples before)."""
    total = 0
    layers = getattr(cache, "layers", None)
    if layers is not None:
        for layer in layers:
            for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
                if isinstance(t, torch.Tensor):
                    total += t.numel() * t.element_size()
        return total
    for kv in cache:
        for t in kv:
            total += t.numel() * t.element_size()
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("prompts")
    ap.add_argument("--groups", default="1,8,16")
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    prompts = torch.tensor(json.load(open(args.prompts))["prompts"], dtype=torch.long)
    model = DeepseekV3ForCausalLM.from_pretrained(args.ckpt, dtype=torch.float32).eval()
    # Plain sampling at T = 1 with no truncation and no early stop, as the C++ side runs.
    kwargs = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=args.new_tokens,
                  min_new_tokens=args.new_tokens, pad_token_id=0, return_dict_in_generate=True)
    with torch.inference_mode():
        model.generate(prompts[:1], num_return_sequences=1, **{**kwargs, "max_new_tokens": 2, "min_new_tokens": 2})
        for g in [int(x) for x in args.groups.split(",")]:
            torch.manual_seed(args.seed)
            t0 = time.perf_counter()
            out = model.generate(prompts, num_return_sequences=g, **kwargs)
            seconds = time.perf_counter() - t0
            n = (out.sequences.shape[1] - prompts.shape[1]) * out.sequences.shape[0]
            print(json.dumps({"G": g, "tokens": int(n), "seconds": seconds, "tokens_per_s": n / seconds,
                              "cache_bytes": cache_bytes(out.past_key_values)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
