// grpo sft: supervised fine-tuning on prompt/completion pairs (loss on the completion only).
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "common/atomic_file.h"
#include "model/config.h"
#include "learner/metrics_log.h"
#include "learner/sft.h"
#include "model/checkpoint.h"
#include "model/tokenizer.h"

namespace grpo::cli {
namespace {

using nlohmann::json;

const char* kUsage =
    "usage: grpo sft --data FILE.jsonl (--init CKPT_DIR | --config CONFIG.json) --out DIR\n"
    "                [--tokenizer tokenizer.json] [--steps N] [--batch N] [--lr X] [--warmup N]\n"
    "                [--schedule constant|cosine] [--micro-batch-tokens N] [--seed S]\n"
    "\n"
    "Supervised fine-tuning with the loss on completion tokens only. Each row of FILE.jsonl has\n"
    "`prompt` and `completion` (text, tokenized with --tokenizer or the checkpoint's tokenizer.json)\n"
    "or `prompt_tokens` and `completion_tokens` (ids). Writes a checkpoint folder to DIR\n"
    "(config.json, model.safetensors, tokenizer.json when there is one) and DIR/metrics.jsonl.\n"
    "--config starts from random weights (std initializer_range, seeded by --seed).\n"
    "Defaults: --steps 100 --batch 16 --lr 1e-3 --warmup 0 --schedule constant --micro-batch-tokens 4096";

std::vector<int64_t> ids_field(const json& row, const char* key, const std::string& where, int64_t vocab) {
  if (!row[key].is_array()) throw file_error(where, key, "expected a list of token ids");
  std::vector<int64_t> ids;
  for (const auto& v : row[key]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      throw file_error(where, key, "token id " + v.dump() + " is not in 0.." + std::to_string(vocab - 1));
    ids.push_back(v.get<int64_t>());
  }
  return ids;
}

std::vector<learner::TrainSequence> read_data(const std::string& path, const Tokenizer* tokenizer, int64_t vocab,
                                              std::optional<int64_t> bos) {
  std::istringstream in(read_file(path));
  std::vector<learner::TrainSequence> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ": line " + std::to_string(n);
    json row = json::parse(line, nullptr, false);
    if (!row.is_object()) throw file_error(path, "line " + std::to_string(n), "is not a JSON object");
    learner::TrainSequence s;
    std::vector<int64_t> prompt, completion;
    if (row.contains("prompt_tokens")) {
      prompt = ids_field(row, "prompt_tokens", where, vocab);
      completion = ids_field(row, "completion_tokens", where, vocab);
    } else {
      if (!row["prompt"].is_string() || !row["completion"].is_string())
        throw file_error(where, "prompt", "expected `prompt` and `completion` strings (or prompt_tokens/completion_tokens)");
      if (!tokenizer) throw file_error(where, "prompt", "text rows need a tokenizer: pass --tokenizer tokenizer.json");
      prompt = tokenizer->encode(row["prompt"].get<std::string>());
      completion = tokenizer->encode(row["completion"].get<std::string>());
      if (bos) prompt.insert(prompt.begin(), *bos);
    }
    if (prompt.empty()) throw file_error(where, "prompt", "is empty (a completion needs at least one token before it)");
    if (completion.empty()) throw file_error(where, "completion", "is empty");
    s.prompt_len = static_cast<int64_t>(prompt.size());
    s.tokens = prompt;
    s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
    out.push_back(std::move(s));
  }
  if (out.empty()) throw file_error(path, "", "has no rows");
  return out;
}

int run_sft_command(const std::vector<std::string>& argv) {
  Args args("sft",
            {{"--data", true, ""}, {"--init", true, ""}, {"--config", true, ""}, {"--out", true, ""},
             {"--tokenizer", true, ""}, {"--steps", true, ""}, {"--batch", true, ""}, {"--lr", true, ""},
             {"--warmup", true, ""}, {"--schedule", true, ""}, {"--micro-batch-tokens", true, ""}, {"--seed", true, ""}},
            argv);
  const std::string data_path = args.require("--data");
  const std::string out_dir = args.require("--out");
  require_exists(data_path, "training data");
  if (args.has("--init") == args.has("--config")) throw UsageError("give exactly one of --init CKPT_DIR or --config CONFIG.json");
  learner::SftOptions o;
  o.steps = args.get_int("--steps", 100);
  o.batch_sequences = static_cast<size_t>(args.get_int("--batch", 16));
  o.micro_batch_tokens = static_cast<size_t>(args.get_int("--micro-batch-tokens", 4096));
  o.lr.peak_lr = args.get_double("--lr", 1e-3);
  o.lr.warmup_steps = args.get_int("--warmup", 0);
  o.lr.kind = args.get("--schedule", "constant");
  o.seed = static_cast<uint64_t>(args.get_int("--seed", 1));
  if (o.steps < 1 || o.batch_sequences < 1 || o.lr.peak_lr <= 0) throw UsageError("--steps, --batch and --lr must be positive");
  if (o.lr.kind != "constant" && o.lr.kind != "cosine") throw UsageError("--schedule must be constant or cosine");

  model::CausalLM lm{nullptr};
  std::string tokenizer_path = args.get("--tokenizer", "");
  if (args.has("--init")) {
    require_exists(args.get("--init", ""), "checkpoint folder");
    lm = model::load_checkpoint(args.get("--init", ""));
    if (tokenizer_path.empty() && std::filesystem::exists(args.get("--init", "") + "/tokenizer.json"))
      tokenizer_path = args.get("--init", "") + "/tokenizer.json";
  } else {
    require_exists(args.get("--config", ""), "config.json");
    lm = model::CausalLM(model::load_config(args.get("--config", "")));
    model::init_weights(lm, o.seed);
  }
  std::optional<Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) tokenizer = Tokenizer::from_file(tokenizer_path);
  if (lm->config.pad_token_id) o.pad_id = *lm->config.pad_token_id;
  auto data = read_data(data_path, tokenizer ? &*tokenizer : nullptr, lm->config.vocab_size, lm->config.bos_token_id);
  std::fprintf(stderr, "grpo sft: %zu sequences from %s, %ld steps of %zu\n", data.size(), data_path.c_str(), o.steps,
               o.batch_sequences);

  std::filesystem::create_directories(out_dir);
  learner::MetricsLog metrics(out_dir, /*resume=*/false);
  const long every = std::max<long>(1, o.steps / 20);
  learner::run_sft(lm, data, o, [&](const learner::SftStepStats& s) {
    metrics.log(s.step, {{"sft/loss", s.loss}, {"sft/grad_norm", s.grad_norm}, {"sft/lr", s.lr},
                         {"sft/tokens", s.tokens}, {"sft/skipped", s.skipped ? 1.0 : 0.0}});
    if (s.step % every == 0 || s.step == 1 || s.step == o.steps)
      std::fprintf(stderr, "  step %5ld/%ld  loss %.4f  grad_norm %.3f  lr %.2e%s\n", s.step, o.steps, s.loss, s.grad_norm,
                   s.lr, s.skipped ? "  (skipped: non-finite)" : "");
  });
  model::save_checkpoint(lm, out_dir);
  if (!tokenizer_path.empty()) write_file_atomic(out_dir + "/tokenizer.json", read_file(tokenizer_path));
  std::fprintf(stderr, "grpo sft: wrote %s\n", out_dir.c_str());
  return 0;
}

}  // namespace

GRPO_COMMAND("sft", "supervised fine-tuning on prompt/completion pairs", kUsage, run_sft_command, 20);

}  // namespace grpo::cli
