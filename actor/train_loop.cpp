#include "actor/train_loop.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>

#include "actor/learner_driver.h"
#include "actor/prompt_rows.h"
#include "actor/trajectory_log.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "learner/checkpoint_dir.h"
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
    if (st.trajectory_bytes > 0)
      throw file_error(wal, "",
                       "missing, but the checkpoint says it had " + std::to_string(st.trajectory_bytes) + " bytes");
    return;
  }
  if (size < st.trajectory_bytes)
    throw file_error(
        wal, "", std::to_string(size) + " bytes, shorter than the checkpoint's " + std::to_string(st.trajectory_bytes));
  if (::truncate(wal.c_str(), static_cast<off_t>(st.trajectory_bytes)) != 0)
    throw file_error(wal, "", std::string("cannot truncate: ") + std::strerror(errno));
  write_file_atomic(run_dir + "/trajectories.cursor", std::to_string(st.trajectory_records) + "\n");
}

long kill_step_from_env() {
  const char* s = std::getenv("GRPO_TEST_KILL_AT_STEP");
  return s ? std::atol(s) : -1;
}

// The write-ahead-log form of a scored group, as the synchronous loop wrote it: batch_id = the
// step, prompt_id = the dataset row; the row carries the sampling seed, each completion the
// weight version that sampled it, and the group the reward script's hash.
actor::ScoredGroup to_logged_group(actor::ScoredGroup group, long step, size_t prompt_index) {
  group.group.batch_id = static_cast<uint64_t>(step);
  group.group.prompt.prompt_id = prompt_index;
  return group;
}

// The runtime batch id of refill round `round` (1..63) of `step`: apart from every step number,
// so the prompt ledger, the runtime's timings and the test hooks keep treating batch id = step
// for the step's own prompts.
long refill_batch_id(long step, long round) { return (1L << 40) + (step << 6) + round; }

// Sampling seeds of refill prompts: a splitmix64 mix, so they repeat across runs and resumes but
// collide with no step's own seeds (seed * 1000003 + step * 7919 + position) in practice.
uint64_t refill_sampling_seed(uint64_t seed, long step, long round, size_t position) {
  uint64_t z = seed ^ (static_cast<uint64_t>(step) << 20) ^ (static_cast<uint64_t>(round) << 52) ^ position;
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

std::string run_training(const learner::Recipe& recipe, const TrainRunOptions& run_options) {
  const json& v = recipe.values;
  const bool resuming = !run_options.resume_dir.empty();
  std::string run_dir = resuming ? run_options.resume_dir : v["train"]["run_dir"].get<std::string>();
  if (run_dir.empty()) run_dir = "runs/" + v["name"].get<std::string>();
  const std::string checkpoints_dir = run_dir + "/checkpoints";
  const uint64_t seed = v["train"]["seed"].get<uint64_t>();
  if (const long threads = v["runtime"]["threads"].get<long>(); threads > 0)
    torch::set_num_threads(static_cast<int>(threads));

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
      throw file_error(checkpoints_dir, "",
                       "no complete checkpoint to resume from (start the run again without --resume)");
    if (!fs::exists(resume_from.path + "/trainer_state/state.json"))
      throw file_error(resume_from.path, "trainer_state",
                       "missing: this checkpoint was written without trainer state and cannot be resumed");
    const std::string saved = run_dir + "/config.json";
    if (fs::exists(saved) && json::parse(read_file(saved), nullptr, false) != recipe.resolved())
      std::fprintf(stderr,
                   "grpo train: warning: the recipe differs from %s; the resumed run follows the recipe given now\n",
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
  const auto& algo = recipe.algorithm;
  const long ref_refresh_every = v["train"]["ref_refresh_every"].get<long>();
  if (ref_refresh_every > 0 && algo.loss.kl_coef == 0)
    std::fprintf(stderr,
                 "grpo train: note: train.ref_refresh_every has no effect with algorithm.kl_coef 0 (no reference)\n");
  model::CausalLM reference{nullptr};
  long reference_step = 0;
  if (algo.loss.kl_coef > 0) {
    if (resuming) {
      const std::string ref_dir = resume_from.path + "/trainer_state/reference";
      if (!fs::exists(ref_dir + "/config.json"))
        throw file_error(resume_from.path, "trainer_state/reference",
                         "missing, but the recipe has a KL term (algorithm.kl_coef > 0)");
      reference = model::load_checkpoint(ref_dir);
      freeze(reference);
    } else {
      reference = learner::clone_model(policy);
    }
  }
  auto prompts = read_prompt_rows(v["data"]["train"].get<std::string>(), tokenizer ? &*tokenizer : nullptr,
                                  policy->config.bos_token_id, "tokenizer.json in the model.init folder");

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
  // BF16 mixed precision (learner/precision.h): matmuls in BF16 under autocast, master weights,
  // optimizer state, norms and softmax in FP32.
  if (v["model"]["precision"] == "bf16") step_options.precision = learner::Precision::kBf16;
  if (policy->config.pad_token_id) step_options.pad_id = *policy->config.pad_token_id;

  const bool speculative = v["rollout"]["mtp_draft"].get<bool>();
  const uint64_t max_staleness = v["runtime"]["max_staleness"].get<uint64_t>();
  if (algo.refill_rounds > 0 && !algo.drop_equal_groups)
    throw file_error(recipe.file, "algorithm.refill_rounds",
                     "refills replace dropped groups: set algorithm.drop_equal_groups true (or refill_rounds 0)");
  if (algo.refill_rounds > 0 && max_staleness > 0)
    throw file_error(
        recipe.file, "algorithm.refill_rounds",
        "needs synchronous rollouts (runtime.max_staleness 0): a refill samples from the weights the step trains");

  // Data order, and where a resumed run picks everything up.
  const long steps = v["train"]["steps"].get<long>();
  const long save_every = v["train"]["save_every"].get<long>();
  const size_t per_step = static_cast<size_t>(v["rollout"]["prompts_per_step"].get<long>());
  const size_t step_prompts = std::min(per_step, prompts.size());  // a small dataset gives each step all of it
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
      throw file_error(
          resume_from.path + "/trainer_state/state.json", "order",
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
  // Draws the prompts of the next step from the data order; remembers where it left the order,
  // per step, for the checkpoint of that step.
  struct DrawState {
    std::string rng;
    std::vector<size_t> order;
    size_t cursor = 0;
  };
  std::map<long, DrawState> draws;
  draws[start_step] = {learner::rng_to_string(rng), order, cursor};
  // `round` > 0: a refill round of the step (its prompts get their own sampling seeds).
  auto draw = [&](long step, size_t count, long round) {
    std::vector<SlotPrompt> out;
    while (out.size() < count) {
      if (cursor == order.size()) {
        if (shuffle) std::shuffle(order.begin(), order.end(), rng);
        cursor = 0;
      }
      const size_t index = order[cursor++];
      SlotPrompt sp;
      sp.index = index;
      sp.tokens.assign(prompts[index].tokens.begin(), prompts[index].tokens.end());
      sp.row = prompts[index].row;
      sp.row["sampling_seed"] = round == 0 ? seed * 1000003u + static_cast<uint64_t>(step) * 7919u + out.size()
                                           : refill_sampling_seed(seed, step, round, out.size());
      out.push_back(std::move(sp));
    }
    draws[step] = {learner::rng_to_string(rng), order, cursor};
    return out;
  };
  auto save = [&](long step) {
    // Written under a temporary name, manifest last, then renamed (learner/checkpoint_dir.h).
    const std::string name = "step-" + std::to_string(step);
    const std::string tmp = checkpoints_dir + "/.tmp-" + name;
    learner::remove_tree(tmp);
    model::save_checkpoint(policy, tmp);
    if (tokenizer) write_file_atomic(tmp + "/tokenizer.json", read_file(init + "/tokenizer.json"));
    learner::TrainerState st;
    st.step = step;
    // The data position after this step's draw (in asynchronous mode later steps are drawn
    // already; a resumed run draws them again).
    const auto& drawn = draws.at(step);
    st.data_rng = drawn.rng;
    st.order = drawn.order;
    st.cursor = drawn.cursor;
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

  // The actor runtime: rollout and reward workers (threads, processes or launcher ranks), the
  // weights they sample with published through actor/weights/weight_sync.h (actor/learner_driver.h).
  DriverSetup setup = run_options.driver;
  setup.run_dir = run_dir;
  setup.model_config = model::config_to_json(policy->config);
  setup.tokenizer = tokenizer ? init + "/tokenizer.json" : "";
  setup.quiet = run_options.quiet;
  LearnerDriver driver(recipe, setup);
  double publish_s = driver.publish(policy, static_cast<uint64_t>(start_step));

  const long kill_at = kill_step_from_env();
  // Test hook: GRPO_TEST_SUBMIT_EXTRA=K submits K more steps ahead than max_staleness allows, so
  // their groups arrive too old and must be refused and sampled again.
  const long submit_extra =
      std::getenv("GRPO_TEST_SUBMIT_EXTRA") ? std::atol(std::getenv("GRPO_TEST_SUBMIT_EXTRA")) : 0;
  learner::Progress progress("train", steps, start_step);
  long submitted = start_step;
  for (long step = start_step + 1; step <= steps; ++step) {
    const auto t0 = std::chrono::steady_clock::now();
    // Synchronous: this step's prompts only. Asynchronous: up to max_staleness steps ahead, so
    // rollouts of later steps run while this one trains.
    while (submitted < std::min<long>(steps, step + static_cast<long>(max_staleness) + submit_extra)) {
      ++submitted;
      driver.submit(submitted, draw(submitted, step_prompts, 0));
    }
    auto rollouts = driver.wait_step(step);
    std::vector<learner::ScoredPromptGroup> groups;
    std::map<std::string, std::pair<double, double>> reward_metrics;  // sum, count
    double failures = 0, rollout_tokens = 0;
    // Takes one batch of scored groups into the step, logging each to the write-ahead log first.
    auto take = [&](StepRollouts& batch) {
      for (size_t gi = 0; gi < batch.groups.size(); ++gi) {
        auto& sg = batch.groups[gi];
        const size_t index = batch.prompt_indices[gi];
        if (sg.group.completions.empty()) {
          std::fprintf(stderr, "grpo train: prompt skipped: %s\n",
                       sg.group.prompt.row.value("generation_error", "no completions").c_str());
          continue;
        }
        learner::ScoredPromptGroup g;
        g.prompt.assign(sg.group.prompt.tokens.begin(), sg.group.prompt.tokens.end());
        for (size_t i = 0; i < sg.group.completions.size(); ++i) {
          const auto& c = sg.group.completions[i];
          const auto& r = sg.scores.at(i);
          failures += !r.failure.empty();
          for (const auto& [k, x] : r.metrics) {
            reward_metrics[k].first += x;
            reward_metrics[k].second += 1;
          }
          rollout_tokens += static_cast<double>(c.tokens.size());
          g.completions.push_back({std::vector<int64_t>(c.tokens.begin(), c.tokens.end()), c.logprobs, r.reward,
                                   c.finish_reason == "length"});
        }
        groups.push_back(std::move(g));
        // Logged before it is trained on (DESIGN.md: nothing written is lost).
        trajectories.append(to_logged_group(std::move(sg), step, index));
      }
    };
    take(rollouts);
    // DAPO's batch refill (algorithm.refill_rounds, synchronous runs): while fewer than
    // prompts_per_step groups carry signal, sample that many more prompts for this step from the
    // current weights. Each round is its own batch in the runtime (refill_batch_id); its draws
    // move the data position of this step, so a checkpoint and --resume see them.
    long refill_rounds = 0, refilled = 0;
    for (long round = 1; round <= algo.refill_rounds; ++round) {
      size_t with_signal = 0;
      for (const auto& g : groups) with_signal += !learner::group_dropped(g, algo, step_options.max_new_tokens);
      if (with_signal >= step_prompts) break;
      const size_t need = step_prompts - with_signal;
      const long batch_id = refill_batch_id(step, round);
      driver.submit(batch_id, draw(step, need, round));
      auto more = driver.wait_step(batch_id);
      for (const char* k : {"prompts/total", "prompts/dispatched", "prompts/scored", "prompts/reassigned",
                            "prompts/duplicates", "prompts/stale", "workers/lost", "workers/restarts",
                            "runtime/refused_messages", "runtime/curve_refused", "time/rollout_s", "time/reward_s"})
        rollouts.metrics[k] += more.metrics[k];
      take(more);
      refill_rounds = round;
      refilled += static_cast<long>(need);
    }
    const double collect_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (step == kill_at) ::raise(SIGKILL);  // test hook (train_loop.h)
    // Update.
    const auto t_update = std::chrono::steady_clock::now();
    const double lr = learning_rate(schedule, step - 1);
    learner::set_adamw_lr(optimizer, lr);
    policy->train();
    auto stats = learner::grpo_step(policy, optimizer, groups, step_options, reference ? &reference : nullptr);
    trajectories.mark_consumed(trajectories.size());
    const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_update).count();
    publish_s = driver.publish(policy, static_cast<uint64_t>(step));  // version `step` for the next rollouts
    double train_tokens = 0;  // prompt + completion tokens through forward and backward, per update
    for (const auto& g : groups)
      for (const auto& c : g.completions) train_tokens += static_cast<double>(g.prompt.size() + c.tokens.size());
    for (const auto& [k, x] : rollouts.metrics) stats.metrics[k] = x;
    if (algo.refill_rounds > 0) {
      stats.metrics["refill/rounds"] = static_cast<double>(refill_rounds);
      stats.metrics["refill/prompts"] = static_cast<double>(refilled);
    }
    stats.metrics["lr"] = lr;
    if (speculative && !stats.metrics.count("rollout/mtp_acceptance")) stats.metrics["rollout/mtp_acceptance"] = 0.0;
    stats.metrics["reward/failures"] = failures;
    for (const auto& [k, sc] : reward_metrics) stats.metrics["reward/" + k] = sc.first / std::max(1.0, sc.second);
    stats.metrics["ref/step"] = static_cast<double>(reference_step);
    stats.metrics["throughput/rollout_tokens_per_s"] =
        rollout_tokens / std::max(rollouts.metrics["time/rollout_s"], 1e-9);
    stats.metrics["throughput/train_tokens_per_s"] =
        train_tokens * static_cast<double>(step_options.updates_per_batch) / std::max(train_s, 1e-9);
    stats.metrics["time/collect_s"] = collect_s;  // the learner's wait for this step's scored groups
    stats.metrics["time/learner_s"] = train_s;
    stats.metrics["time/weight_publish_s"] = publish_s;
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
    draws.erase(draws.begin(), draws.lower_bound(step));
  }
  save(steps);
  policy->eval();
  return run_dir;
}

}  // namespace grpo::actor
