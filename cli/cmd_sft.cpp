// grpo sft: supervised fine-tuning on prompt/completion pairs (loss on the completion only),
// from a recipe's `sft` section or from flags. Both go through learner/sft_run.h.
#include <cstdio>
#include <filesystem>

#include "cli/args.h"
#include "cli/command.h"
#include "learner/recipe.h"
#include "learner/sft_run.h"

namespace grpo::cli {
namespace {

const char* kUsage =
    "usage: grpo sft RECIPE_DIR|recipe.json [--data FILE.jsonl] [--out DIR] [--steps N] [--epochs N] [--no-eos]\n"
    "       grpo sft --data FILE.jsonl (--init CKPT_DIR | --config CONFIG.json) --out DIR\n"
    "                [--tokenizer tokenizer.json] [--steps N | --epochs N] [--batch N] [--lr X] [--warmup N]\n"
    "                [--schedule constant|cosine] [--micro-batch-tokens N] [--seed S] [--precision fp32|bf16]\n"
    "                [--no-eos]\n"
    "\n"
    "Supervised fine-tuning with the loss on completion tokens only. Each row of FILE.jsonl has\n"
    "`prompt` and `completion` (text, tokenized with --tokenizer or the checkpoint's tokenizer.json)\n"
    "or `prompt_tokens` and `completion_tokens` (ids). Writes a checkpoint folder to DIR\n"
    "(config.json, model.safetensors, tokenizer.json when there is one) and DIR/metrics.jsonl.\n"
    "Every completion ends with the model's EOS token (appended unless the row ends with it) so the\n"
    "model learns to stop; --no-eos trains on the rows exactly as given.\n"
    "--precision bf16 runs the matmuls in BF16 (weights and optimizer state stay FP32).\n"
    "With a RECIPE the model comes from model.init / model.config and the rest from the recipe's\n"
    "sft section (sft.data, sft.out, sft.steps, sft.batch, sft.lr, sft.warmup_steps,\n"
    "sft.micro_batch_tokens), model.precision and train.seed; flags given override it.\n"
    "--config starts from random weights (std initializer_range, seeded by --seed / train.seed).\n"
    "Flag defaults: --steps 100 --batch 16 --lr 1e-3 --warmup 0 --schedule constant --micro-batch-tokens 4096\n"
    "--precision fp32";

int run_sft_command(const std::vector<std::string>& argv) {
  Args args("sft",
            {{"--data", true, ""},
             {"--init", true, ""},
             {"--config", true, ""},
             {"--out", true, ""},
             {"--tokenizer", true, ""},
             {"--steps", true, ""},
             {"--epochs", true, ""},
             {"--batch", true, ""},
             {"--lr", true, ""},
             {"--warmup", true, ""},
             {"--schedule", true, ""},
             {"--micro-batch-tokens", true, ""},
             {"--seed", true, ""},
             {"--precision", true, ""},
             {"--no-eos", false, ""}},
            argv);
  learner::SftRun run;
  if (!args.positional().empty()) {
    const std::string path = args.positional_at(0, "RECIPE_DIR or recipe.json");
    require_exists(path, "recipe");
    for (const char* flag : {"--init", "--config", "--tokenizer", "--batch", "--lr", "--warmup", "--schedule",
                             "--micro-batch-tokens", "--seed", "--precision"})
      if (args.has(flag))
        throw UsageError(std::string(flag) + " is set by the recipe (model.* / sft.* / train.seed); edit it there");
    run = learner::sft_run_from_recipe(learner::load_recipe(path));
    if (args.has("--data")) run.data = args.get("--data", "");
    if (args.has("--out")) run.out = args.get("--out", "");
    if (args.has("--steps")) run.options.steps = args.get_int("--steps", 0);
    if (run.data.empty()) throw UsageError(path + ": sft.data is empty: give the SFT JSONL there or with --data");
  } else {
    run.data = args.require("--data");
    run.out = args.require("--out");
    if (args.has("--init") == args.has("--config"))
      throw UsageError("give exactly one of --init CKPT_DIR or --config CONFIG.json");
    run.init = args.get("--init", "");
    run.config = args.get("--config", "");
    run.tokenizer = args.get("--tokenizer", "");
    auto& o = run.options;
    o.steps = args.get_int("--steps", 100);
    o.batch_sequences = static_cast<size_t>(args.get_int("--batch", 16));
    o.micro_batch_tokens = static_cast<size_t>(args.get_int("--micro-batch-tokens", 4096));
    o.lr.peak_lr = args.get_double("--lr", 1e-3);
    o.lr.warmup_steps = args.get_int("--warmup", 0);
    o.lr.kind = args.get("--schedule", "constant");
    o.seed = static_cast<uint64_t>(args.get_int("--seed", 1));
    if (o.lr.peak_lr <= 0 || o.batch_sequences < 1) throw UsageError("--batch and --lr must be positive");
    if (o.lr.kind != "constant" && o.lr.kind != "cosine") throw UsageError("--schedule must be constant or cosine");
    const std::string precision = args.get("--precision", "fp32");
    if (precision != "fp32" && precision != "bf16") throw UsageError("--precision must be fp32 or bf16");
    o.precision = learner::parse_precision(precision);
    if (!run.init.empty()) require_exists(run.init, "checkpoint folder");
    if (!run.config.empty()) require_exists(run.config, "config.json");
  }
  require_exists(run.data, "training data");
  run.epochs = args.get_int("--epochs", 0);
  run.append_eos = !args.has("--no-eos");
  if (run.options.steps < 1 || run.epochs < 0) throw UsageError("--steps must be positive and --epochs not negative");
  learner::run_sft_to_folder(run);
  std::fprintf(stderr, "grpo sft: wrote %s\n", run.out.c_str());
  return 0;
}

}  // namespace

GRPO_COMMAND("sft", "supervised fine-tuning on prompt/completion pairs", kUsage, run_sft_command, 20);

}  // namespace grpo::cli
