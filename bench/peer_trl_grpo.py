"""Peer of scripts/bench_recipe.sh: the same GRPO steps of the math recipe done by TRL's
GRPOTrainer, on the same SFT base checkpoint, prompts, group size, completion budget, learning
rate and thread count, with the time of each step split the way `grpo train` logs it:
rollout (TRL's `_generate`), reward (`_calculate_rewards`), learner (the rest of the step: old
log-probs, forward, backward, optimizer) and weight sync (0: without vLLM the policy samples itself).

The reward is recipes/math/reward.lua written in Python: 1 for the right \\boxed{} answer after
</think>, plus 0.1 for the <think>…</think> format.

Prints one JSON line: {"steps": [{"rollout_s", "reward_s", "learner_s", "step_s", "reward_mean"}, ...],
"trl_version": ..., "mean_completion_length": [...]}.

usage: peer_trl_grpo.py CKPT TRAIN.jsonl --steps N --prompts-per-step P --group G --max-new T
                        --lr X --temperature 1.0 --threads 1 --seed S
"""
import argparse
import json
import re
import time

import torch
import transformers


def boxed_answer(text):
    after = text.split("</think>", 1)[1] if "</think>" in text else text
    m = re.findall(r"\\boxed\{([^{}]*)\}", after)
    return m[-1].strip() if m else None


def math_reward(completions, answer, **_):
    out = []
    for text, want in zip(completions, answer):
        got = boxed_answer(text)
        correct = False
        if got is not None:
            try:
                correct = float(got) == float(want)
            except ValueError:
                correct = got == str(want)
        fmt = re.match(r"^\s*<think>.*?</think>", text, re.S) is not None
        out.append((1.0 if correct else 0.0) + (0.1 if fmt else 0.0))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("train")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--prompts-per-step", type=int, default=16)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=96)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="/tmp/peer_trl_out")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()

    import datasets
    import trl
    from transformers import AutoTokenizer, DeepseekV3ForCausalLM, TrainerCallback

    rows = [json.loads(line) for line in open(args.train)]
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "answer": str(r["answer"])} for r in rows])
    tokenizer = AutoTokenizer.from_pretrained(args.ckpt)
    model = DeepseekV3ForCausalLM.from_pretrained(args.ckpt, dtype=torch.float32)
    completions_per_step = args.prompts_per_step * args.group
    config = trl.GRPOConfig(
        output_dir=args.out,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        per_device_train_batch_size=completions_per_step,  # one optimizer step per rollout batch
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_generations=args.group,
        max_completion_length=args.max_new,
        temperature=args.temperature,
        top_p=1.0,
        beta=0.0,                      # as the recipe: no KL term, no reference forward
        num_iterations=1,
        epsilon=0.2,
        loss_type="grpo",
        scale_rewards="group",
        max_steps=args.steps,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=args.seed,
        disable_dropout=True,
        dataloader_num_workers=0,
        gradient_checkpointing=False,  # TRL turns it on by default; a 2M model needs no recomputation
    )

    timings = {"rollout_s": 0.0, "reward_s": 0.0}
    steps = []
    lengths = []

    trainer = trl.GRPOTrainer(model=model, reward_funcs=[math_reward], args=config, train_dataset=ds,
                              processing_class=tokenizer)

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                timings[name] += time.perf_counter() - t0
        return wrapper

    trainer._generate = timed("rollout_s", trainer._generate)
    trainer._calculate_rewards = timed("reward_s", trainer._calculate_rewards)

    class StepTimer(TrainerCallback):
        def on_step_begin(self, *_a, **_k):
            timings["rollout_s"] = timings["reward_s"] = 0.0
            self.t0 = time.perf_counter()

        def on_step_end(self, *_a, **_k):
            step_s = time.perf_counter() - self.t0
            steps.append({"rollout_s": timings["rollout_s"], "reward_s": timings["reward_s"],
                          "learner_s": step_s - timings["rollout_s"] - timings["reward_s"],
                          "weight_sync_s": 0.0, "step_s": step_s})

        def on_log(self, _args, _state, _control, logs=None, **_k):
            if logs and steps and "reward" in logs:
                steps[-1]["reward_mean"] = logs["reward"]
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    trainer.add_callback(StepTimer())
    trainer.train()
    print(json.dumps({"steps": steps, "trl_version": trl.__version__, "mean_completion_length": lengths}))


if __name__ == "__main__":
    main()
