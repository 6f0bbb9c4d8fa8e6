// A run's checkpoints: written at the steps the recipe says, found again on --resume, and the
// run's append-only files cut back to the checkpoint a resumed run starts from.
//
// Checkpoint `checkpoints/step-N/` = the policy as a Hugging Face model folder (plus the
// tokenizer, when the run has one) and `trainer_state/` (learner/trainer_state.h: AdamW state,
// RNGs, the data position, how far metrics.jsonl and trajectories.wal had got; the KL reference
// as `trainer_state/reference/`). Folders are complete or recognisably not
// (learner/checkpoint_dir.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "actor/prompt_sampler.h"
#include "actor/trajectory_log.h"
#include "learner/checkpoint_dir.h"
#include "learner/trainer_state.h"
#include "model/causal_lm.h"

namespace grpo::actor {

// What the checkpoint of a step records beside the weights and the optimizer.
struct RunPosition {
  long step = 0;
  DataPosition data;           // the prompt sampler's position after the step's draws
  uint64_t metrics_lines = 0;  // metrics.jsonl lines up to the step
  long reference_step = 0;     // the step whose policy the KL reference holds
};

class Checkpointer {
 public:
  // `tokenizer_file`: copied into every checkpoint (empty: the run has no tokenizer).
  // `keep_last`: train.keep_last (0 keeps every checkpoint).
  Checkpointer(const std::string& run_dir, long keep_last, std::string tokenizer_file);

  // Writes checkpoints/step-N under a temporary name, manifest last, then renames it into place,
  // and prunes old ones. A kill at any instant leaves the previous checkpoints intact.
  void save(const RunPosition& position, model::CausalLM& policy, model::CausalLM* reference,
            torch::optim::Optimizer& optimizer, const TrajectoryLog& trajectories) const;

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  long keep_last_;
  std::string tokenizer_file_;
};

// The checkpoint `grpo train --resume RUN_DIR` starts from: the newest complete one (incomplete
// ones newer than it are named on stderr and skipped). Throws grpo::Error naming the folder when
// there is none or it has no trainer state.
learner::CheckpointFolder find_resume_checkpoint(const std::string& run_dir);

// Cuts metrics.jsonl and trajectories.wal back to what the checkpoint had recorded: the resumed
// run writes the later steps again (with the same seeds, the same records), so no step is there
// twice. Throws grpo::Error naming the file when it is shorter than the checkpoint says.
void rewind_run_files(const std::string& run_dir, const learner::TrainerState& state);

}  // namespace grpo::actor
