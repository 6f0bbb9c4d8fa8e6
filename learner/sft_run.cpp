#include "learner/sft_run.h"

#include <cstdio>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/metrics_log.h"
#include "learner/progress.h"
#include "learner/sft_data.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace grpo::learner {

SftRun sft_run_from_recipe(const Recipe& recipe) {
  SftRun run;
  run.data = recipe.get<std::string>("sft", "data");
  run.out = recipe.get<std::string>("sft", "out");
  if (run.out.empty()) {
    run.out = recipe.run_dir() + "/sft";
  }
  run.init = recipe.get<std::string>("model", "init");
  run.config = recipe.get<std::string>("model", "config");
  auto& o = run.options;
  o.steps = recipe.get<long>("sft", "steps");
  o.batch_sequences = static_cast<size_t>(recipe.get<long>("sft", "batch"));
  o.micro_batch_tokens = static_cast<size_t>(recipe.get<long>("sft", "micro_batch_tokens"));
  o.lr.peak_lr = recipe.get<double>("sft", "lr");
  o.lr.warmup_steps = recipe.get<long>("sft", "warmup_steps");
  o.lr.kind = "cosine";  // the sft.lr documentation: cosine to optim.min_lr_ratio
  o.lr.min_lr_ratio = recipe.get<double>("optim", "min_lr_ratio");
  o.grad_clip = recipe.get<double>("optim", "grad_clip");
  o.seed = recipe.get<uint64_t>("train", "seed");
  if (recipe.get<std::string>("model", "precision") == "bf16") o.precision = Precision::kBf16;
  return run;
}

SftStepStats run_sft_to_folder(const SftRun& run) {
  if (run.data.empty()) throw file_error("sft.data", "", "no SFT data given (a prompt/completion JSONL)");
  if (!std::filesystem::exists(run.data)) throw file_error(run.data, "", "SFT data not found");
  model::CausalLM lm{nullptr};
  std::string tokenizer_path = run.tokenizer;
  SftOptions o = run.options;
  if (!run.init.empty()) {
    if (!std::filesystem::exists(run.init + "/config.json"))
      throw file_error(run.init, "", "not a checkpoint folder (no config.json)");
    lm = model::load_checkpoint(run.init);
    if (tokenizer_path.empty() && std::filesystem::exists(run.init + "/tokenizer.json"))
      tokenizer_path = run.init + "/tokenizer.json";
  } else {
    if (run.config.empty()) throw file_error("model", "", "give a checkpoint to start from or a config.json");
    lm = model::CausalLM(model::load_config(run.config));
    model::init_weights(lm, o.seed);
  }
  std::optional<Tokenizer> tokenizer;
  if (!tokenizer_path.empty()) tokenizer = Tokenizer::from_file(tokenizer_path);
  if (lm->config.pad_token_id) o.pad_id = *lm->config.pad_token_id;
  std::optional<int64_t> eos;
  if (run.append_eos && !lm->config.eos_token_ids.empty()) eos = lm->config.eos_token_ids.front();
  auto data =
      read_sft_data(run.data, tokenizer ? &*tokenizer : nullptr, lm->config.vocab_size, lm->config.bos_token_id, eos);
  for (size_t i = 0; i < data.size(); ++i)
    if (static_cast<int64_t>(data[i].tokens.size()) > lm->config.max_position_embeddings)
      throw file_error(
          run.data, "row " + std::to_string(i + 1),
          "has " + std::to_string(data[i].tokens.size()) + " tokens but the model's max_position_embeddings is " +
              std::to_string(lm->config.max_position_embeddings) + "; shorten it or raise the limit in config.json");
  if (run.epochs > 0)
    o.steps =
        std::max<long>(1, static_cast<long>((run.epochs * data.size() + o.batch_sequences - 1) / o.batch_sequences));
  if (!run.quiet) {
    int64_t parameters = 0;
    for (const auto& p : lm->parameters()) parameters += p.numel();
    std::fprintf(stderr, "grpo sft: %zu sequences from %s%s, %ld steps of %zu, %lld parameters, %s\n", data.size(),
                 run.data.c_str(), eos ? " (EOS appended)" : "", o.steps, o.batch_sequences,
                 static_cast<long long>(parameters), to_string(o.precision).c_str());
  }

  std::filesystem::create_directories(run.out);
  MetricsLog metrics(run.out, /*resume=*/false);
  Progress progress("sft", o.steps, 0, std::max<long>(1, o.steps / 20));
  SftStepStats last;
  run_sft(lm, data, o, [&](const SftStepStats& s) {
    const std::string& p = run.metric_prefix;
    metrics.log(s.step, {{p + "loss", s.loss},
                         {p + "grad_norm", s.grad_norm},
                         {p + "lr", s.lr},
                         {p + "tokens", s.tokens},
                         {p + "skipped", s.skipped ? 1.0 : 0.0}});
    if (!run.quiet) {
      char detail[160];
      std::snprintf(detail, sizeof detail, "loss %.4f  grad_norm %.3f  lr %.2e%s", s.loss, s.grad_norm, s.lr,
                    s.skipped ? "  (skipped: non-finite)" : "");
      progress.update(s.step, detail);
    }
    last = s;
  });
  model::save_checkpoint(lm, run.out);
  if (!tokenizer_path.empty()) write_file_atomic(run.out + "/tokenizer.json", read_file(tokenizer_path));
  return last;
}

}  // namespace grpo::learner
