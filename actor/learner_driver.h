// The learner's side of the actor runtime (docs/actors.md): it starts the rollout and reward
// workers (threads of this process, child processes, or ranks of an existing launcher), owns the
// hub they connect to, publishes weights, and hands each step's prompts out and the scored
// groups back, surviving the loss of workers.
//
// A dispatcher thread owns the hub socket: it answers hellos (refusing a wrong run token), sends
// prompt batches to rollout workers and trajectory groups to reward workers, exchanges
// heartbeats, and notices a worker that is gone (heartbeat timeout; in process mode also waitpid)
// — its in-flight prompts go to the others (actor/prompt_ledger.h) and, in process mode, it is
// restarted. The training thread only submits steps, waits for them, and publishes weights, so
// heartbeats continue while it trains.
//
// Files it writes in the run folder: workers.jsonl (one line per worker start, welcome and loss,
// with pids) and weight_sync.jsonl (one line per weight version a rollout worker loaded, with the
// worker's hash and the learner's hash of that version).
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "actor/transport/messages.h"
#include "learner/recipe.h"
#include "model/causal_lm.h"

namespace grpo::actor {

// One prompt of a step as the learner sends it.
struct SlotPrompt {
  size_t index = 0;  // the dataset row
  std::vector<int32_t> tokens;
  nlohmann::json row;  // the dataset row's fields plus "sampling_seed"
};

struct StepRollouts {
  std::vector<actor::ScoredGroup> groups;  // in prompt order (position within the step)
  std::vector<size_t> prompt_indices;      // the dataset row of each group
  // Additive over the batches of one step (a refill round adds its own): prompts/*, workers/*,
  // runtime/*, time/rollout_s, time/reward_s.
  std::map<std::string, double> counts;
  // Of the weights and the sampling the batch used, not summed: weights/version,
  // time/weight_sync_s, rollout/mtp_acceptance.
  std::map<std::string, double> gauges;
};

// Where the workers come from.
enum class WorkerMode {
  kThreads,    // threads of this process (runtime.mode "threads")
  kProcesses,  // `grpo worker` child processes on this host (runtime.mode "processes", --processes)
  kExternal,   // ranks started by a launcher (torchrun, srun, mpirun) that connect to us
};

struct DriverSetup {
  std::string run_dir;
  WorkerMode mode = WorkerMode::kThreads;
  nlohmann::json model_config;  // the policy's config.json
  std::string tokenizer;        // tokenizer.json path, or empty
  bool quiet = false;
  // kExternal: where to bind and what to tell the workers.
  std::string bind_host = "127.0.0.1";
  std::string advertise_host = "127.0.0.1";
  int port = 0;  // 0: any free port
};

class LearnerDriver {
 public:
  LearnerDriver(const learner::Recipe& recipe, const DriverSetup& setup);
  ~LearnerDriver();  // tells every worker to shut down and waits for them
  LearnerDriver(const LearnerDriver&) = delete;
  LearnerDriver& operator=(const LearnerDriver&) = delete;

  // Publishes `policy` as policy version `version` (number of updates applied) and announces it.
  // Returns the seconds it took (serialise + hand to the publisher).
  double publish(model::CausalLM& policy, uint64_t version);
  // Queues the prompts of `step` for rollout.
  void submit(long step, std::vector<SlotPrompt> prompts);
  // Blocks until every prompt of `step` is scored and fresh enough for the current version;
  // throws grpo::Error when no worker of a role is left and none can be restarted.
  StepRollouts wait_step(long step);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace grpo::actor
