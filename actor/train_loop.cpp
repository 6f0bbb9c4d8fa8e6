#include "actor/train_loop.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "actor/checkpointer.h"
#include "actor/learner_driver.h"
#include "actor/prompt_rows.h"
#include "actor/prompt_sampler.h"
#include "actor/step_collector.h"
#include "actor/trajectory_log.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/grpo_step.h"
#include "learner/lr_schedule.h"
#include "learner/metrics_log.h"
#include "learner/optimizer_util.h"
#include "learner/precision.h"
#include "learner/progress.h"
#include "learner/reference_model.h"
#include "learner/trainer_state.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/fp8_training.h"
#include "model/tokenizer.h"

namespace grpo::actor {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

void freeze(model::CausalLM& lm) {
  for (auto& p : lm->parameters()) p.set_requires_grad(false);
  lm->eval();
}

// The models of a run: the policy (from the checkpoint resumed, model.init, or a fresh
// model.config with train.seed) and, with a KL term, the frozen reference.
struct Models {
  model::CausalLM policy{nullptr};
  model::CausalLM reference{nullptr};
  std::optional<Tokenizer> tokenizer;
  std::string tokenizer_file;  // empty without a tokenizer
};

Models load_models(const learner::Recipe& recipe, const std::string& resume_from) {
  const json& v = recipe.values;
  Models m;
  const std::string init = v["model"]["init"].get<std::string>();
  if (!init.empty() && fs::exists(init + "/tokenizer.json")) {
    m.tokenizer_file = init + "/tokenizer.json";
    m.tokenizer = Tokenizer::from_file(m.tokenizer_file);
  }
  if (!resume_from.empty()) {
    m.policy = model::load_checkpoint(resume_from);
  } else if (!init.empty()) {
    m.policy = model::load_checkpoint(init);
  } else {
    m.policy = model::CausalLM(model::load_config(v["model"]["config"].get<std::string>()));
    model::init_weights(m.policy, v["train"]["seed"].get<uint64_t>());
  }
  // FP8 training (model/fp8_training.h): the quantized linears run their three GEMMs in FP8
  // with block scaling; master weights and optimizer state stay FP32.
  if (v["model"]["precision"] == "fp8") model::enable_fp8_training(m.policy);
  if (recipe.algorithm.loss.kl_coef > 0) {
    if (!resume_from.empty()) {
      const std::string ref_dir = resume_from + "/trainer_state/reference";
      if (!fs::exists(ref_dir + "/config.json"))
        throw file_error(resume_from, "trainer_state/reference",
                         "missing, but the recipe has a KL term (algorithm.kl_coef > 0)");
      m.reference = model::load_checkpoint(ref_dir);
      freeze(m.reference);
    } else {
      m.reference = learner::clone_model(m.policy);
    }
  }
  return m;
}

torch::optim::AdamW make_optimizer(const json& o, model::CausalLM& policy) {
  return torch::optim::AdamW(policy->parameters(), torch::optim::AdamWOptions(o["lr"].get<double>())
                                                       .betas({o["beta1"].get<double>(), o["beta2"].get<double>()})
                                                       .eps(o["eps"].get<double>())
                                                       .weight_decay(o["weight_decay"].get<double>()));
}

learner::GrpoStepOptions step_options_of(const learner::Recipe& recipe, const model::CausalLM& policy) {
  const json& v = recipe.values;
  const auto& o = v["optim"];
  learner::GrpoStepOptions so;
  so.algorithm = recipe.algorithm;
  so.temperature = v["rollout"]["temperature"].get<double>();
  if (so.temperature == 0.0) so.temperature = 1.0;  // greedy log-probs are taken at T = 1
  so.micro_batch_tokens = static_cast<size_t>(o["micro_batch_tokens"].get<long>());
  so.updates_per_batch = o["updates_per_batch"].get<long>();
  so.grad_clip = o["grad_clip"].get<double>();
  so.max_new_tokens = v["rollout"]["max_new_tokens"].get<long>();
  so.bias_update_speed = v["train"]["bias_update_speed"].get<double>();
  so.mtp_loss_coef = v["train"]["mtp_loss_coef"].get<double>();
  // BF16 mixed precision (learner/precision.h): matmuls in BF16 under autocast, master weights,
  // optimizer state, norms and softmax in FP32.
  if (v["model"]["precision"] == "bf16") so.precision = learner::Precision::kBf16;
  if (policy->config.pad_token_id) so.pad_id = *policy->config.pad_token_id;
  return so;
}

}  // namespace

std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& run_options) {
  const json& v = recipe.values;
  const bool resuming = !run_options.resume_dir.empty();
  const std::string run_dir = resuming ? run_options.resume_dir : recipe.run_dir();
  const uint64_t seed = v["train"]["seed"].get<uint64_t>();
  if (const long threads = v["runtime"]["threads"].get<long>(); threads > 0)
    torch::set_num_threads(static_cast<int>(threads));

  // Where a resumed run starts: the newest complete checkpoint, naming the incomplete ones skipped.
  learner::CheckpointFolder resume_from;
  if (resuming) {
    resume_from = find_resume_checkpoint(run_dir);
    const std::string saved = run_dir + "/config.json";
    if (fs::exists(saved) && json::parse(read_file(saved), nullptr, false) != recipe.resolved())
      std::fprintf(stderr,
                   "grpo train: warning: the recipe differs from %s; the resumed run follows the recipe given now\n",
                   saved.c_str());
    std::fprintf(stderr, "grpo train: resuming %s from %s\n", run_dir.c_str(), resume_from.path.c_str());
  }
  fs::create_directories(run_dir);  // checkpoints/ is the Checkpointer's
  write_file_atomic(run_dir + "/config.json", recipe.resolved().dump(2) + "\n");

  Models models = load_models(recipe, resume_from.path);
  model::CausalLM& policy = models.policy;
  model::CausalLM* reference = models.reference ? &models.reference : nullptr;
  const Checkpointer saver(run_dir, v["train"]["keep_last"].get<long>(), models.tokenizer_file);
  const auto& algo = recipe.algorithm;
  const long ref_refresh_every = v["train"]["ref_refresh_every"].get<long>();
  if (ref_refresh_every > 0 && algo.loss.kl_coef == 0)
    std::fprintf(stderr,
                 "grpo train: note: train.ref_refresh_every has no effect with algorithm.kl_coef 0 (no reference)\n");
  const auto prompts =
      read_prompt_rows(v["data"]["train"].get<std::string>(), models.tokenizer ? &*models.tokenizer : nullptr,
                       policy->config.bos_token_id, "tokenizer.json in the model.init folder");

  // Optimizer and schedule.
  const auto& o = v["optim"];
  torch::optim::AdamW optimizer = make_optimizer(o, policy);
  const learner::LrSchedule schedule{o["lr"].get<double>(), o["warmup_steps"].get<long>(),
                                     o["schedule"].get<std::string>(), v["train"]["steps"].get<long>(),
                                     o["min_lr_ratio"].get<double>()};
  const learner::GrpoStepOptions step_options = step_options_of(recipe, policy);

  const bool speculative = v["rollout"]["mtp_draft"].get<bool>();
  const uint64_t max_staleness = v["runtime"]["max_staleness"].get<uint64_t>();

  // Data order, and where a resumed run picks everything up.
  const long steps = v["train"]["steps"].get<long>();
  const long save_every = v["train"]["save_every"].get<long>();
  const size_t per_step = static_cast<size_t>(v["rollout"]["prompts_per_step"].get<long>());
  const size_t step_prompts = std::min(per_step, prompts.size());  // a small dataset gives each step all of it
  PromptSampler sampler(prompts.size(), seed, v["data"]["shuffle"].get<bool>());
  long start_step = 0, reference_step = 0;
  uint64_t metrics_lines = 0;
  if (resuming) {
    const auto st = learner::load_trainer_state(resume_from.path + "/trainer_state", optimizer);
    sampler.restore({st.data_rng, st.order, st.cursor}, st.step, resume_from.path + "/trainer_state/state.json");
    start_step = st.step;
    reference_step = st.reference_step;
    metrics_lines = st.metrics_lines;
    rewind_run_files(run_dir, st);  // no step twice in metrics.jsonl or the write-ahead log
  }
  learner::MetricsLog metrics(run_dir, /*resume=*/resuming);
  TrajectoryLog trajectories(run_dir);
  auto draw = [&](long step, size_t count, long round) {
    std::vector<SlotPrompt> out;
    for (const auto& sp : sampler.draw(step, count, round)) {
      SlotPrompt slot;
      slot.index = sp.index;
      slot.tokens.assign(prompts[sp.index].tokens.begin(), prompts[sp.index].tokens.end());
      slot.row = prompts[sp.index].row;
      slot.row["sampling_seed"] = sp.sampling_seed;
      out.push_back(std::move(slot));
    }
    return out;
  };
  auto save = [&](long step) {
    saver.save({step, sampler.position_after(step), metrics_lines, reference_step}, policy, reference, optimizer,
               trajectories);
  };
  if (start_step >= steps) {
    std::fprintf(stderr, "grpo train: %s already reached step %ld of %ld\n", run_dir.c_str(), start_step, steps);
    policy->eval();
    return run_dir;
  }

  // The actor runtime: rollout and reward workers (threads, processes or launcher ranks), the
  // weights they sample with published through actor/weights/weight_sync.h (actor/learner_driver.h).
  DriverSetup setup = run_options.driver;
  setup.run_dir = run_dir;
  setup.model_config = model::config_to_json(policy->config);
  setup.tokenizer = models.tokenizer_file;
  setup.quiet = run_options.quiet;
  LearnerDriver driver(recipe, setup);
  double publish_s = driver.publish(policy, static_cast<uint64_t>(start_step));
  const StepSource source{[&](long id, std::vector<SlotPrompt> p) { driver.submit(id, std::move(p)); },
                          [&](long id) { return driver.wait_step(id); }, draw};
  const CollectOptions collect{algo, step_options.max_new_tokens, step_prompts};

  learner::Progress progress("train", steps, start_step);
  long submitted = start_step;
  for (long step = start_step + 1; step <= steps; ++step) {
    const auto t0 = Clock::now();
    // Synchronous: this step's prompts only. Asynchronous: up to max_staleness steps ahead, so
    // rollouts of later steps run while this one trains.
    const long ahead = static_cast<long>(max_staleness) + run_options.submit_extra_for_testing;
    while (submitted < std::min<long>(steps, step + ahead)) {
      ++submitted;
      driver.submit(submitted, draw(submitted, step_prompts, 0));
    }
    CollectedStep collected = collect_step(step, source, collect, trajectories);
    const double collect_s = seconds_since(t0);
    // Update.
    const auto t_update = Clock::now();
    const double lr = learning_rate(schedule, step - 1);
    learner::set_adamw_lr(optimizer, lr);
    policy->train();
    auto stats = learner::grpo_step(policy, optimizer, collected.groups, step_options, reference);
    const double train_s = seconds_since(t_update);
    publish_s = driver.publish(policy, static_cast<uint64_t>(step));  // version `step` for the next rollouts
    double train_tokens = 0;  // prompt + completion tokens through forward and backward, per update
    for (const auto& g : collected.groups)
      for (const auto& c : g.completions) train_tokens += static_cast<double>(g.prompt.size() + c.tokens.size());
    for (const auto& [k, x] : collected.metrics) stats.metrics[k] = x;
    stats.metrics["lr"] = lr;
    if (speculative && !stats.metrics.count("rollout/mtp_acceptance")) stats.metrics["rollout/mtp_acceptance"] = 0.0;
    stats.metrics["ref/step"] = static_cast<double>(reference_step);
    stats.metrics["throughput/rollout_tokens_per_s"] =
        collected.rollout_tokens / std::max(collected.metrics["time/rollout_s"], 1e-9);
    stats.metrics["throughput/train_tokens_per_s"] =
        train_tokens * static_cast<double>(step_options.updates_per_batch) / std::max(train_s, 1e-9);
    stats.metrics["time/collect_s"] = collect_s;  // the learner's wait for this step's scored groups
    stats.metrics["time/learner_s"] = train_s;
    stats.metrics["time/weight_publish_s"] = publish_s;
    stats.metrics["time/step_s"] = seconds_since(t0);
    metrics.log(step, stats.metrics);
    ++metrics_lines;
    if (reference && learner::reference_refresh_due(step, ref_refresh_every)) {
      learner::copy_weights(policy, *reference);
      reference_step = step;
    }
    if (!run_options.quiet) {
      char detail[160];
      std::snprintf(detail, sizeof detail, "reward %.3f  loss %+.4f  kl %.4f  len %.1f", stats.metrics["reward/mean"],
                    stats.metrics["loss"], stats.metrics["kl"], stats.metrics["response_length/mean"]);
      progress.update(step, detail);
    }
    if (save_every > 0 && step % save_every == 0 && step != steps) save(step);
    sampler.forget_before(step);
  }
  save(steps);
  policy->eval();
  return run_dir;
}

}  // namespace grpo::actor
