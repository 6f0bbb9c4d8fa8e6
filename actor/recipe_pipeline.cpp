#include "actor/recipe_pipeline.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "actor/evaluate.h"
#include "actor/prompt_rows.h"
#include "actor/recipe_scorer.h"
#include "actor/report_html.h"
#include "actor/train_loop.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/checkpoint_dir.h"
#include "learner/sft_run.h"
#include "model/bpe_trainer.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "model/tokenizer_pretokenizer.h"
#include "recipes/common/task_data.h"
#include "rewards/scorer.h"

namespace grpo::actor {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const char* kBos = "<｜begin▁of▁sentence｜>";
const char* kEos = "<｜end▁of▁sentence｜>";

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void stage(const PipelineOptions& o, const std::string& text) {
  if (!o.quiet) std::fprintf(stderr, "==> %s\n", text.c_str());
}

// DeepSeek-V3's pre-tokenizer with numbers split into single digits (DeepSeek groups up to
// three): a small model learns digit-by-digit arithmetic far more easily.
json digit_pre_tokenizer() {
  json pre = tok::deepseek_v3_pre_tokenizer_json();
  pre["pretokenizers"][0]["pattern"]["Regex"] = R"(\p{N})";
  return pre;
}

void train_tokenizer(const recipes::TaskData& data, int64_t vocab_size, const std::string& dir) {
  std::vector<std::string> corpus;
  for (const auto& e : data.sft) corpus.push_back(e.prompt + "\n" + e.completion);
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.special_tokens = {kBos, kEos};
  o.pre_tokenizer = digit_pre_tokenizer();
  write_json_file(dir + "/tokenizer.json", train_bpe(corpus, o));
  TokenizerConfigOptions c;
  c.bos_token = kBos;
  c.eos_token = kEos;
  write_json_file(dir + "/tokenizer_config.json", tokenizer_config_json(c));
}

// The base policy: a model built from model.config (vocabulary sized to the tokenizer),
// trained by SFT on the traces (`sft_jsonl`, the task data's prompt/completion rows) through
// learner::run_sft_to_folder, as `grpo sft` does: BOS before each prompt, EOS after each
// completion. Writes a checkpoint folder with the tokenizer files.
void make_base_policy(const learner::Recipe& recipe, const recipes::TaskData& data, const std::string& sft_jsonl,
                      const std::string& dir, const json& key, const PipelineOptions& options) {
  const json& v = recipe.values;
  const std::string tmp = dir + ".partial";
  learner::remove_tree(tmp);
  fs::create_directories(tmp);
  const int64_t vocab = v["tokenizer"]["vocab_size"].get<long>();
  if (vocab <= 0)
    throw file_error(recipe.file, "tokenizer.vocab_size",
                     "must be > 0 when the recipe builds its base policy from text traces");
  stage(options, "tokenizer: byte-level BPE, " + std::to_string(vocab) + " tokens, trained on " +
                     std::to_string(data.sft.size()) + " SFT traces");
  train_tokenizer(data, vocab, tmp);
  const Tokenizer tokenizer = Tokenizer::from_file(tmp + "/tokenizer.json");

  const std::string config_path = v["model"]["config"].get<std::string>();
  if (config_path.empty())
    throw file_error(recipe.file, "model.config", "is needed to build the base policy from scratch");
  json config_json = json::parse(read_file(config_path));
  config_json["vocab_size"] = tokenizer.vocab_size();
  config_json["bos_token_id"] = *tokenizer.token_to_id(kBos);
  config_json["eos_token_id"] = *tokenizer.token_to_id(kEos);
  config_json.erase("quantization_config");  // trained in FP32 here
  // The run builds the model from this file (save_checkpoint overwrites it with the same config).
  write_json_file(tmp + "/config.json", config_json);

  learner::SftRun run;
  run.data = sft_jsonl;
  run.out = tmp;
  run.config = tmp + "/config.json";
  run.tokenizer = tmp + "/tokenizer.json";
  run.quiet = options.quiet;
  run.metric_prefix = "";  // report.html charts `loss` from sft/metrics.jsonl
  auto& so = run.options;
  so.steps = v["sft"]["steps"].get<long>();
  so.batch_sequences = v["sft"]["batch"].get<size_t>();
  so.micro_batch_tokens = static_cast<size_t>(v["sft"]["micro_batch_tokens"].get<long>());
  so.lr =
      learner::LrSchedule{v["sft"]["lr"].get<double>(), v["sft"]["warmup_steps"].get<long>(), "cosine", so.steps, 0.1};
  so.seed = v["train"]["seed"].get<uint64_t>();
  so.pad_id = *tokenizer.token_to_id(kEos);  // the config has no pad_token_id
  stage(options, "sft: " + std::to_string(data.sft.size()) + " traces, " + std::to_string(so.steps) + " steps of " +
                     std::to_string(so.batch_sequences) + " sequences");
  learner::run_sft_to_folder(run);
  write_file_atomic(tmp + "/stage.json", key.dump(2) + "\n");  // what made it, for reuse
  // Published with a manifest in one rename (learner/checkpoint_dir.h): a killed run never leaves
  // a half-written base behind that a later run would reuse.
  learner::commit_checkpoint_dir(tmp, dir);
}

json stage_key(const learner::Recipe& recipe) {
  const json& v = recipe.values;
  json key = {
      {"task", v["task"]},
      {"tokenizer", v["tokenizer"]},
      {"sft", v["sft"]},
      {"seed", v["train"]["seed"]},
  };
  const std::string config = v["model"]["config"].get<std::string>();
  key["model_config"] = config.empty() ? json() : json::parse(read_file(config));
  return key;
}

std::optional<EvalReport> run_eval(const std::string& ckpt, const learner::Recipe& recipe, rewards::Scorer& scorer,
                                   const std::string& out, const std::string& title, const PipelineOptions& options) {
  const json& v = recipe.values;
  const std::string eval_path = v["data"]["eval"].get<std::string>();
  if (options.skip_eval || eval_path.empty()) return std::nullopt;
  auto lm = model::load_checkpoint(ckpt);
  std::optional<Tokenizer> tokenizer;
  if (fs::exists(ckpt + "/tokenizer.json")) tokenizer = Tokenizer::from_file(ckpt + "/tokenizer.json");
  const auto prompts = read_prompt_rows(eval_path, tokenizer ? &*tokenizer : nullptr, lm->config.bos_token_id,
                                        "tokenizer.json in " + ckpt);
  EvalOptions eo;
  eo.samples = v["eval"]["samples"].get<long>();
  eo.temperature = v["eval"]["temperature"].get<double>();
  eo.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
  eo.stop = v["rollout"]["stop"].get<std::vector<std::string>>();
  eo.seed = v["train"]["seed"].get<uint64_t>();
  const auto t0 = Clock::now();
  stage(options, title + ": " + std::to_string(prompts.size()) + " held-out prompts, greedy + " +
                     std::to_string(eo.samples) + " samples each");
  EvalReport report = evaluate(lm, tokenizer ? &*tokenizer : nullptr, prompts, scorer, eo);
  write_file_atomic(out, report.to_json().dump(2) + "\n");
  if (!options.quiet) std::fprintf(stderr, "%s  (%.0fs)\n", report.table().c_str(), since(t0));
  return report;
}

}  // namespace

PipelineResult run_recipe_pipeline(learner::Recipe recipe, const PipelineOptions& options) {
  const auto t0 = Clock::now();
  json& v = recipe.values;
  const std::string run_dir = recipe.run_dir();
  v["train"]["run_dir"] = run_dir;  // every stage writes into the same folder
  fs::create_directories(run_dir);
  // The scorer forks its workers now, before LibTorch starts its thread pools.
  rewards::Scorer scorer(v["reward"]["script"].get<std::string>(), scorer_options_from_recipe(recipe));

  if (const long threads = v["runtime"]["threads"].get<long>(); threads > 0)
    torch::set_num_threads(static_cast<int>(threads));
  const std::string family = v["task"]["family"].get<std::string>();
  if (!family.empty()) {
    const auto spec = recipes::task_spec_from_json(v["task"]);
    const auto data = recipes::make_task_data(spec);
    const std::string data_dir = run_dir + "/data";
    fs::create_directories(data_dir);
    recipes::write_task_data(data, data_dir);
    stage(options, "data: " + family + " tasks, " + std::to_string(data.train.size()) + " train / " +
                       std::to_string(data.eval.size()) + " eval prompts, " + std::to_string(data.sft.size()) +
                       " SFT traces (seed " + std::to_string(spec.seed) + ") in " + data_dir);
    if (v["data"]["train"].get<std::string>().empty()) v["data"]["train"] = data_dir + "/train.jsonl";
    if (v["data"]["eval"].get<std::string>().empty()) v["data"]["eval"] = data_dir + "/eval.jsonl";
    if (v["model"]["init"].get<std::string>().empty() && spec.sft_examples > 0) {
      const std::string base = run_dir + "/sft";
      const json key = stage_key(recipe);
      if (fs::exists(base + "/stage.json") && learner::verify_checkpoint_dir(base).empty() &&
          json::parse(read_file(base + "/stage.json")) == key) {
        stage(options, "sft: reusing the base policy in " + base + " (same task, tokenizer, sft and model config)");
      } else {
        make_base_policy(recipe, data, data_dir + "/sft.jsonl", base, key, options);
      }
      v["model"]["init"] = base;
    }
  }
  if (v["data"]["train"].get<std::string>().empty())
    throw file_error(recipe.file, "data.train", "is empty and no task.family generates training prompts");

  PipelineResult result;
  result.run_dir = run_dir;
  const std::string init = v["model"]["init"].get<std::string>();
  if (!init.empty()) {
    if (auto r = run_eval(init, recipe, scorer, run_dir + "/eval_base.json", "eval base", options))
      result.base_pass_at_1 = r->overall().pass_at_1;
  }
  stage(options, "train: " + std::to_string(v["train"]["steps"].get<long>()) + " GRPO steps of " +
                     std::to_string(v["rollout"]["prompts_per_step"].get<long>()) + " prompts x " +
                     std::to_string(v["rollout"]["group_size"].get<long>()) + " completions");
  TrainRunOptions to;
  to.quiet = options.quiet;
  run_training(recipe, to);
  const std::string last = run_dir + "/checkpoints/step-" + std::to_string(v["train"]["steps"].get<long>());
  if (auto r = run_eval(last, recipe, scorer, run_dir + "/eval_final.json", "eval final", options))
    result.final_pass_at_1 = r->overall().pass_at_1;
  const std::string report = write_report_html(run_dir);
  result.seconds = since(t0);
  if (!options.quiet) {
    std::fprintf(stderr, "\nrun folder: %s\n", run_dir.c_str());
    if (result.base_pass_at_1 >= 0 && result.final_pass_at_1 >= 0)
      std::fprintf(stderr, "held-out greedy accuracy (pass@1): base %.1f%% -> final %.1f%% (%+.1f points)\n",
                   100 * result.base_pass_at_1, 100 * result.final_pass_at_1,
                   100 * (result.final_pass_at_1 - result.base_pass_at_1));
    std::fprintf(stderr, "report: %s\nfinal checkpoint: %s\nwall time: %.0f s\n", report.c_str(), last.c_str(),
                 result.seconds);
  }
  return result;
}

}  // namespace grpo::actor
