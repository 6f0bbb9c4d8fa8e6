#include "cli/train_loop.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>

#include <signal.h>
#include <unistd.h>

#include "actor/trajectory_log.h"
#include "cli/prompt_rows.h"
#include "cli/recipe_scorer.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/checkpoint_dir.h"
#include "learner/grpo_step.h"
#include "learner/lr_schedule.h"
#include "learner/metrics_log.h"
#include "learner/optimizer_util.h"
#include "learner/progress.h"
#include "learner/reference_model.h"
#include "learner/trainer_state.h"
#include "model/checkpoint.h"
#include "model/fp8_training.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "rewards/scorer.h"
#include "rollout/generator.h"

namespace grpo::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

void freeze(model::CausalLM& lm) {
  for (auto& p : lm->parameters()) p.set_requires_grad(false);
  lm->eval();
}

// Cuts the write-ahead log back to what the checkpoint had consumed. In the synchronous loop the
// records after it are the rollouts of steps the checkpoint does not contain; the resumed run
// samples them again with the same seeds, so they are logged again and nothing is lost.
void rewind_trajectory_log(const std::string& run_dir, const learner::TrainerState& st) {
  const std::string wal = run_dir + "/trajectories.wal";
  std::error_code ec;
  const auto size = fs::file_size(wal, ec);
  if (ec) {
    if (st.trajectory_bytes > 0) throw file_error(wal, "", "missing, but the checkpoint says it had " + std::to_string(st.trajectory_bytes) + " bytes");
    return;
  }
  if (size < st.trajectory_bytes)
    throw file_error(wal, "", std::to_string(size) + " bytes, shorter than the checkpoint's " + std::to_string(st.trajectory_bytes));
  if (::truncate(wal.c_str(), static_cast<off_t>(st.trajectory_bytes)) != 0)
    throw file_error(wal, "", std::string("cannot truncate: ") + std::strerror(errno));
  write_file_atomic(run_dir + "/trajectories.cursor", std::to_string(st.trajectory_records) + "\n");
}

long kill_step_from_env() {
  const char* s = std::getenv("GRPO_TEST_KILL_AT_STEP");
  return s ? std::atol(s) : -1;
}

// The write-ahead-log form of a scored group: tokens, behaviour log-probs, the weight version
// (the step), the sampling seed in the prompt row and the reward script's hash.
actor::ScoredGroup to_logged_group(uint64_t step, size_t prompt_index, const PromptRow& prompt,
                                   const std::vector<int64_t>& prompt_tokens, const rollout::GenerationResult& gen,
                                   const std::vector<rewards::SampleResult>& results, const std::string& script_sha256,
                                   uint64_t seed, const std::function<std::string(const std::vector<int64_t>&)>& decode) {
  actor::ScoredGroup out;
  out.group.batch_id = step;
  out.group.prompt.prompt_id = prompt_index;
  out.group.prompt.tokens.assign(prompt_tokens.begin(), prompt_tokens.end());
  out.group.prompt.row = prompt.row;
  out.group.prompt.row["sampling_seed"] = seed;
  for (size_t i = 0; i < gen.completions.size(); ++i) {
    const auto& c = gen.completions[i];
    actor::Completion lc;
    lc.text = decode(c.tokens);
    lc.tokens.assign(c.tokens.begin(), c.tokens.end());
    lc.logprobs = c.logprobs;
    lc.finish_reason = c.finish_reason;
    lc.version_start = lc.version_end = step - 1;  // the policy before this step's update
    out.group.completions.push_back(std::move(lc));
    actor::SampleScore score;
    if (results[i].applicable()) score.reward = results[i].score;
    score.metrics = results[i].metrics;
    if (results[i].failed()) score.failure = results[i].error.empty() ? "failed" : results[i].error;
    out.scores.push_back(std::move(score));
  }
  out.reward_script_sha256 = script_sha256;
  return out;
}

}  // namespace

std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& run_options) {
  const json& v = recipe.values;
  const bool resuming = !run_options.resume_dir.empty();
  std::string run_dir = resuming ? run_options.resume_dir : v["train"]["run_dir"].get<std::string>();
  if (run_dir.empty()) run_dir = "runs/" + v["name"].get<std::string>();
  const std::string checkpoints_dir = run_dir + "/checkpoints";
  const uint64_t seed = v["train"]["seed"].get<uint64_t>();
  if (const long threads = v["runtime"]["threads"].get<long>(); threads > 0) torch::set_num_threads(static_cast<int>(threads));

  // Where a resumed run starts: the newest complete checkpoint, naming the incomplete ones skipped.
  learner::CheckpointFolder resume_from;
  if (resuming) {
    if (!fs::is_directory(checkpoints_dir))
      throw file_error(run_dir, "checkpoints", "no checkpoints folder: is this a run folder written by grpo train?");
    std::vector<learner::CheckpointFolder> skipped;
    resume_from = learner::latest_complete_checkpoint(checkpoints_dir, &skipped);
    for (const auto& s : skipped)
      std::fprintf(stderr, "grpo train: skipping incomplete checkpoint %s: %s\n", s.path.c_str(), s.problem.c_str());
    if (resume_from.path.empty())
      throw file_error(checkpoints_dir, "", "no complete checkpoint to resume from (start the run again without --resume)");
    if (!fs::exists(resume_from.path + "/trainer_state/state.json"))
      throw file_error(resume_from.path, "trainer_state", "missing: this checkpoint was written without trainer state and cannot be resumed");
    const std::string saved = run_dir + "/config.json";
    if (fs::exists(saved) && json::parse(read_file(saved), nullptr, false) != recipe.resolved())
      std::fprintf(stderr, "grpo train: warning: the recipe differs from %s; the resumed run follows the recipe given now\n",
                   saved.c_str());
    std::fprintf(stderr, "grpo train: resuming %s from %s\n", run_dir.c_str(), resume_from.path.c_str());
  }
  fs::create_directories(checkpoints_dir);
  write_file_atomic(run_dir + "/config.json", recipe.resolved().dump(2) + "\n");

  // Policy, reference and tokenizer.
  const std::string init = v["model"]["init"].get<std::string>();
  model::CausalLM policy{nullptr};
  std::optional<Tokenizer> tokenizer;
  if (!init.empty() && fs::exists(init + "/tokenizer.json")) tokenizer = Tokenizer::from_file(init + "/tokenizer.json");
  if (resuming) {
    policy = model::load_checkpoint(resume_from.path);
  } else if (!init.empty()) {
    policy = model::load_checkpoint(init);
  } else {
    policy = model::CausalLM(model::load_config(v["model"]["config"].get<std::string>()));
    model::init_weights(policy, seed);
  }
  // FP8 training (model/fp8_training.h): the quantized linears run their three GEMMs in FP8
  // with block scaling; master weights and optimizer state stay FP32.
  if (v["model"]["precision"] == "fp8") model::enable_fp8_training(policy);
  if (v["model"]["precision"] == "bf16")
    throw file_error(recipe.file, "model.precision", "bf16 training is not built yet; use \"fp32\" or \"fp8\"");
  const auto& algo = recipe.algorithm;
  const long ref_refresh_every = v["train"]["ref_refresh_every"].get<long>();
  if (ref_refresh_every > 0 && algo.loss.kl_coef == 0)
    std::fprintf(stderr, "grpo train: note: train.ref_refresh_every has no effect with algorithm.kl_coef 0 (no reference)\n");
  model::CausalLM reference{nullptr};
  long reference_step = 0;
  if (algo.loss.kl_coef > 0) {
    if (resuming) {
      const std::string ref_dir = resume_from.path + "/trainer_state/reference";
      if (!fs::exists(ref_dir + "/config.json"))
        throw file_error(resume_from.path, "trainer_state/reference", "missing, but the recipe has a KL term (algorithm.kl_coef > 0)");
      reference = model::load_checkpoint(ref_dir);
      freeze(reference);
    } else {
      reference = learner::clone_model(policy);
    }
  }
  auto prompts = read_prompt_rows(v["data"]["train"].get<std::string>(), tokenizer ? &*tokenizer : nullptr,
                                  policy->config.bos_token_id, "tokenizer.json in the model.init folder");

  rewards::Scorer scorer(v["reward"]["script"].get<std::string>(), scorer_options_from_recipe(recipe));

  // Optimizer and schedule.
  const auto& o = v["optim"];
  torch::optim::AdamW optimizer(policy->parameters(), torch::optim::AdamWOptions(o["lr"].get<double>())
                                                          .betas({o["beta1"].get<double>(), o["beta2"].get<double>()})
                                                          .eps(o["eps"].get<double>())
                                                          .weight_decay(o["weight_decay"].get<double>()));
  learner::LrSchedule schedule{o["lr"].get<double>(), o["warmup_steps"].get<long>(), o["schedule"].get<std::string>(),
                               v["train"]["steps"].get<long>(), o["min_lr_ratio"].get<double>()};
  learner::GrpoStepOptions step_options;
  step_options.algorithm = algo;
  step_options.temperature = v["rollout"]["temperature"].get<double>();
  if (step_options.temperature == 0.0) step_options.temperature = 1.0;  // greedy log-probs are taken at T = 1
  step_options.micro_batch_tokens = static_cast<size_t>(o["micro_batch_tokens"].get<long>());
  step_options.updates_per_batch = o["updates_per_batch"].get<long>();
  step_options.grad_clip = o["grad_clip"].get<double>();
  step_options.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
  step_options.bias_update_speed = v["train"]["bias_update_speed"].get<double>();
  step_options.mtp_loss_coef = v["train"]["mtp_loss_coef"].get<double>();
  if (policy->config.pad_token_id) step_options.pad_id = *policy->config.pad_token_id;

  rollout::GenerationRequest base;
  base.group_size = v["rollout"]["group_size"].get<long>();
  base.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
  base.sampling.temperature = v["rollout"]["temperature"].get<double>();
  base.sampling.top_p = v["rollout"]["top_p"].get<double>();
  base.sampling.top_k = v["rollout"]["top_k"].get<long>();
  base.sampling.min_p = v["rollout"]["min_p"].get<double>();
  base.stop = v["rollout"]["stop"].get<std::vector<std::string>>();
  rollout::GeneratorOptions gen_options;
  gen_options.eos_token_ids = policy->config.eos_token_ids;
  gen_options.speculative = v["rollout"]["mtp_draft"].get<bool>() ? 1 : 0;
  auto decode = [&](const std::vector<int64_t>& ids) {
    if (tokenizer) return tokenizer->decode(ids);
    std::string s;  // without a tokenizer the script sees the ids, space-separated
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
  };
  gen_options.decode = decode;

  // Data order, and where a resumed run picks everything up.
  const long steps = v["train"]["steps"].get<long>();
  const long save_every = v["train"]["save_every"].get<long>();
  const size_t per_step = static_cast<size_t>(v["rollout"]["prompts_per_step"].get<long>());
  const bool shuffle = v["data"]["shuffle"].get<bool>();
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) std::shuffle(order.begin(), order.end(), rng);
  size_t cursor = 0;
  long start_step = 0;
  uint64_t metrics_lines = 0;
  if (resuming) {
    const auto st = learner::load_trainer_state(resume_from.path + "/trainer_state", optimizer);
    if (st.order.size() != prompts.size())
      throw file_error(resume_from.path + "/trainer_state/state.json", "order",
                       std::to_string(st.order.size()) + " prompts, but data.train has " + std::to_string(prompts.size()));
    rng = learner::rng_from_string(st.data_rng, resume_from.path + "/trainer_state/state.json");
    order = st.order;
    cursor = st.cursor;
    start_step = st.step;
    reference_step = st.reference_step;
    metrics_lines = st.metrics_lines;
    learner::truncate_lines(run_dir + "/metrics.jsonl", st.metrics_lines);  // no step twice
    rewind_trajectory_log(run_dir, st);
  }
  learner::MetricsLog metrics(run_dir, /*resume=*/resuming);
  actor::TrajectoryLog trajectories(run_dir);
  auto save = [&](long step) {
    // Written under a temporary name, manifest last, then renamed (learner/checkpoint_dir.h).
    const std::string name = "step-" + std::to_string(step);
    const std::string tmp = checkpoints_dir + "/.tmp-" + name;
    learner::remove_tree(tmp);
    model::save_checkpoint(policy, tmp);
    if (tokenizer) write_file_atomic(tmp + "/tokenizer.json", read_file(init + "/tokenizer.json"));
    learner::TrainerState st;
    st.step = step;
    st.data_rng = learner::rng_to_string(rng);
    st.order = order;
    st.cursor = cursor;
    st.metrics_lines = metrics_lines;
    st.trajectory_records = trajectories.size();
    std::error_code ec;
    st.trajectory_bytes = fs::file_size(trajectories.path(), ec);
    if (ec) st.trajectory_bytes = 0;
    st.reference_step = reference_step;
    learner::save_trainer_state(tmp + "/trainer_state", st, optimizer);
    if (reference) model::save_checkpoint(reference, tmp + "/trainer_state/reference");
    learner::commit_checkpoint_dir(tmp, checkpoints_dir + "/" + name);
    learner::prune_checkpoints(checkpoints_dir, v["train"]["keep_last"].get<long>());
  };
  if (start_step >= steps) {
    std::fprintf(stderr, "grpo train: %s already reached step %ld of %ld\n", run_dir.c_str(), start_step, steps);
    policy->eval();
    return run_dir;
  }

  const long kill_at = kill_step_from_env();
  learner::Progress progress("train", steps, start_step);
  for (long step = start_step + 1; step <= steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<size_t> batch;
    while (batch.size() < std::min(per_step, prompts.size())) {
      if (cursor == order.size()) {
        if (shuffle) std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      batch.push_back(order[cursor++]);
    }
    // Rollout with the current policy.
    std::vector<rollout::GenerationRequest> requests;
    for (size_t k = 0; k < batch.size(); ++k) {
      requests.push_back(base);
      requests.back().prompt = prompts[batch[k]].tokens;
      requests.back().sampling.seed = seed * 1000003u + static_cast<uint64_t>(step) * 7919u + k;
    }
    policy->eval();
    auto generated = rollout::generate(policy, requests, gen_options);
    const double rollout_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    // Rewards.
    std::vector<rewards::SampleGroup> samples;
    std::vector<size_t> kept;
    for (size_t k = 0; k < generated.size(); ++k) {
      if (!generated[k].error.empty()) {
        std::fprintf(stderr, "grpo train: prompt skipped: %s\n", generated[k].error.c_str());
        continue;
      }
      rewards::SampleGroup group;
      for (const auto& c : generated[k].completions) {
        json s = prompts[batch[k]].row;
        s["completion"] = decode(c.tokens);
        s["finish_reason"] = c.finish_reason;
        group.push_back(std::move(s));
      }
      samples.push_back(std::move(group));
      kept.push_back(k);
    }
    auto scored = scorer.score(samples);
    std::vector<learner::ScoredPromptGroup> groups;
    std::map<std::string, std::pair<double, double>> reward_metrics;  // sum, count
    double failures = 0, rollout_tokens = 0;
    for (size_t gi = 0; gi < kept.size(); ++gi) {
      const auto& gen = generated[kept[gi]];
      // Logged before it is trained on (DESIGN.md: nothing written is lost).
      trajectories.append(to_logged_group(static_cast<uint64_t>(step), batch[kept[gi]], prompts[batch[kept[gi]]],
                                          requests[kept[gi]].prompt, gen, scored.groups[gi], scored.script_sha256,
                                          requests[kept[gi]].sampling.seed, decode));
      learner::ScoredPromptGroup g;
      g.prompt = requests[kept[gi]].prompt;
      for (size_t i = 0; i < gen.completions.size(); ++i) {
        const auto& r = scored.groups[gi][i];
        const auto& c = gen.completions[i];
        std::optional<double> reward;
        if (r.applicable()) reward = r.score;
        failures += r.failed();
        for (const auto& [k, x] : r.metrics) {
          reward_metrics[k].first += x;
          reward_metrics[k].second += 1;
        }
        rollout_tokens += static_cast<double>(c.tokens.size());
        g.completions.push_back({c.tokens, c.logprobs, reward, c.finish_reason == "length"});
      }
      groups.push_back(std::move(g));
    }
    if (step == kill_at) ::raise(SIGKILL);  // test hook (train_loop.h)
    // Update.
    const auto t_update = std::chrono::steady_clock::now();
    const double lr = learning_rate(schedule, step - 1);
    learner::set_adamw_lr(optimizer, lr);
    policy->train();
    auto stats = learner::grpo_step(policy, optimizer, groups, step_options, reference ? &reference : nullptr);
    trajectories.mark_consumed(trajectories.size());
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_update).count();
    double train_tokens = 0;  // prompt + completion tokens through forward and backward, per update
    for (const auto& g : groups)
      for (const auto& c : g.completions) train_tokens += static_cast<double>(g.prompt.size() + c.tokens.size());
    stats.metrics["lr"] = lr;
    if (gen_options.speculative > 0) {  // MTP drafting: share of drafted tokens the main model kept
      double drafted = 0, accepted = 0;
      for (const auto& g : generated) drafted += static_cast<double>(g.drafted), accepted += static_cast<double>(g.accepted);
      stats.metrics["rollout/mtp_acceptance"] = drafted > 0 ? accepted / drafted : 0.0;
    }
    stats.metrics["reward/failures"] = failures;
    for (const auto& [k, sc] : reward_metrics) stats.metrics["reward/" + k] = sc.first / std::max(1.0, sc.second);
    stats.metrics["ref/step"] = static_cast<double>(reference_step);
    stats.metrics["throughput/rollout_tokens_per_s"] = rollout_tokens / std::max(rollout_s, 1e-9);
    stats.metrics["throughput/train_tokens_per_s"] =
        train_tokens * static_cast<double>(step_options.updates_per_batch) / std::max(train_s, 1e-9);
    stats.metrics["time/step_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics.log(step, stats.metrics);
    ++metrics_lines;
    if (reference && learner::reference_refresh_due(step, ref_refresh_every)) {
      learner::copy_weights(policy, reference);
      reference_step = step;
    }
    if (!run_options.quiet) {
      char detail[160];
      std::snprintf(detail, sizeof detail, "reward %.3f  loss %+.4f  kl %.4f  len %.1f", stats.metrics["reward/mean"],
                    stats.metrics["loss"], stats.metrics["kl"], stats.metrics["response_length/mean"]);
      progress.update(step, detail);
    }
    if (save_every > 0 && step % save_every == 0 && step != steps) save(step);
  }
  save(steps);
  policy->eval();
  return run_dir;
}

}  // namespace grpo::cli
