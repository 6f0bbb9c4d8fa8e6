#include "cli/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>

#include <unistd.h>

#include "actor/trajectory_log.h"
#include "cli/prompt_rows.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/grpo_step.h"
#include "learner/lr_schedule.h"
#include "learner/metrics_log.h"
#include "learner/optimizer_util.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/tokenizer.h"
#include "rewards/scorer.h"
#include "rollout/generator.h"

namespace grpo::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Keeps the newest `keep` step-* folders under `dir`.
void prune_checkpoints(const std::string& dir, long keep) {
  std::vector<std::pair<long, fs::path>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0) found.emplace_back(std::atol(name.c_str() + 5), e.path());
  }
  std::sort(found.begin(), found.end());
  for (size_t i = 0; i + static_cast<size_t>(keep) < found.size(); ++i) {
    // Each checkpoint is a flat folder of files: remove them one by one (std::filesystem::remove_all
    // resolves to a broken copy exported by libtorch).
    for (const auto& f : fs::directory_iterator(found[i].second, ec)) ::unlink(f.path().c_str());
    ::rmdir(found[i].second.c_str());
  }
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
  std::string run_dir = v["train"]["run_dir"].get<std::string>();
  if (run_dir.empty()) run_dir = "runs/" + v["name"].get<std::string>();
  fs::create_directories(run_dir + "/checkpoints");
  write_file_atomic(run_dir + "/config.json", recipe.resolved().dump(2) + "\n");
  const uint64_t seed = v["train"]["seed"].get<uint64_t>();

  // Policy, reference and tokenizer.
  const std::string init = v["model"]["init"].get<std::string>();
  model::CausalLM policy{nullptr};
  std::optional<Tokenizer> tokenizer;
  if (!init.empty()) {
    policy = model::load_checkpoint(init);
    if (fs::exists(init + "/tokenizer.json")) tokenizer = Tokenizer::from_file(init + "/tokenizer.json");
  } else {
    policy = model::CausalLM(model::load_config(v["model"]["config"].get<std::string>()));
    model::init_weights(policy, seed);
  }
  if (v["model"]["precision"] != "fp32")
    throw file_error(recipe.file, "model.precision", "only fp32 is built so far in the CPU training loop");
  const auto& algo = recipe.algorithm;
  model::CausalLM reference{nullptr};
  if (algo.loss.kl_coef > 0) {
    reference = model::CausalLM(policy->config);
    torch::NoGradGuard no_grad;
    auto src = policy->named_parameters();
    for (auto& p : reference->named_parameters()) p.value().copy_(src[p.key()]);
    auto bsrc = policy->named_buffers();
    for (auto& b : reference->named_buffers()) b.value().copy_(bsrc[b.key()]);
    reference->eval();
  }
  auto prompts = read_prompt_rows(v["data"]["train"].get<std::string>(), tokenizer ? &*tokenizer : nullptr,
                                  policy->config.bos_token_id, "tokenizer.json in the model.init folder");

  rewards::ScorerOptions scorer_options;
  scorer_options.workers = static_cast<int>(v["reward"]["workers"].get<long>());
  scorer_options.script.fallback = v["reward"]["fallback"].get<double>();
  scorer_options.script.limits.timeout_ms = static_cast<int>(v["reward"]["timeout_ms"].get<long>());
  scorer_options.script.limits.memory_bytes = static_cast<size_t>(v["reward"]["memory_mb"].get<long>()) << 20;
  scorer_options.script.seed = static_cast<long long>(seed);
  rewards::Scorer scorer(v["reward"]["script"].get<std::string>(), scorer_options);

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
  auto decode = [&](const std::vector<int64_t>& ids) {
    if (tokenizer) return tokenizer->decode(ids);
    std::string s;  // without a tokenizer the script sees the ids, space-separated
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
  };
  gen_options.decode = decode;

  learner::MetricsLog metrics(run_dir, /*resume=*/false);
  actor::TrajectoryLog trajectories(run_dir);
  const long steps = v["train"]["steps"].get<long>();
  const long save_every = v["train"]["save_every"].get<long>();
  const size_t per_step = static_cast<size_t>(v["rollout"]["prompts_per_step"].get<long>());
  std::mt19937_64 rng(seed);
  std::vector<size_t> order(prompts.size());
  std::iota(order.begin(), order.end(), 0);
  if (v["data"]["shuffle"].get<bool>()) std::shuffle(order.begin(), order.end(), rng);
  size_t cursor = 0;
  auto save = [&](long step) {
    const std::string dir = run_dir + "/checkpoints/step-" + std::to_string(step);
    model::save_checkpoint(policy, dir);
    if (tokenizer && !init.empty()) write_file_atomic(dir + "/tokenizer.json", read_file(init + "/tokenizer.json"));
    prune_checkpoints(run_dir + "/checkpoints", v["train"]["keep_last"].get<long>());
  };

  for (long step = 1; step <= steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<size_t> batch;
    while (batch.size() < std::min(per_step, prompts.size())) {
      if (cursor == order.size()) {
        if (v["data"]["shuffle"].get<bool>()) std::shuffle(order.begin(), order.end(), rng);
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
    double failures = 0;
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
        g.completions.push_back({c.tokens, c.logprobs, reward, c.finish_reason == "length"});
      }
      groups.push_back(std::move(g));
    }
    // Update.
    const double lr = learning_rate(schedule, step - 1);
    learner::set_adamw_lr(optimizer, lr);
    policy->train();
    auto stats = learner::grpo_step(policy, optimizer, groups, step_options, reference ? &reference : nullptr);
    trajectories.mark_consumed(trajectories.size());
    stats.metrics["lr"] = lr;
    stats.metrics["reward/failures"] = failures;
    for (const auto& [k, sc] : reward_metrics) stats.metrics["reward/" + k] = sc.first / std::max(1.0, sc.second);
    stats.metrics["time/step_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics.log(step, stats.metrics);
    if (!run_options.quiet)
      std::fprintf(stderr, "step %4ld/%ld  reward %.3f  loss %+.4f  kl %.4f  len %.1f  %.1fs\n", step, steps,
                   stats.metrics["reward/mean"], stats.metrics["loss"], stats.metrics["kl"],
                   stats.metrics["response_length/mean"], stats.metrics["time/step_s"]);
    if (save_every > 0 && step % save_every == 0 && step != steps) save(step);
  }
  save(steps);
  policy->eval();
  return run_dir;
}

}  // namespace grpo::cli
