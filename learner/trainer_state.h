// What a checkpoint needs beyond the model weights so that a resumed run continues exactly as the
// uninterrupted one would have (bit-identical weights on CPU with fixed threads): the AdamW
// moments and step counts, the data-order RNG with the epoch's order and cursor, the global torch
// CPU RNG, the step, and how far the run's append-only files (metrics.jsonl, trajectories.wal)
// had got, so a resume can cut off what later steps wrote before the run stopped.
//
// Folder `trainer_state/` of a checkpoint: state.json (everything but tensors) and optimizer.pt
// (torch::serialize archive of the optimizer). The KL reference, when there is one, is written
// next to it by the training loop as a model folder `trainer_state/reference/`.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace grpo::learner {

struct TrainerState {
  long step = 0;                    // optimizer steps done (training steps)
  std::string data_rng;             // std::mt19937_64 state (operator<< text)
  std::vector<size_t> order;        // the current epoch's prompt order
  size_t cursor = 0;                // next position in `order`
  uint64_t metrics_lines = 0;       // lines of metrics.jsonl written up to `step`
  uint64_t trajectory_records = 0;  // trajectories.wal records up to `step` (all consumed)
  uint64_t trajectory_bytes = 0;    // its byte length then
  long reference_step = 0;          // step whose policy the KL reference holds (0: the initial policy)
  std::string torch_cpu_rng;        // the default CPU generator's state, hex (filled by save)
};

std::string rng_to_string(const std::mt19937_64& rng);
std::mt19937_64 rng_from_string(const std::string& text, const std::string& file);

// Writes `dir`/state.json and `dir`/optimizer.pt (creates `dir`). Records the torch CPU RNG.
void save_trainer_state(const std::string& dir, const TrainerState& state, torch::optim::Optimizer& optimizer);

// Reads them back into `optimizer` (built over the same parameters in the same order) and
// restores the torch CPU RNG. Errors name the file and field.
TrainerState load_trainer_state(const std::string& dir, torch::optim::Optimizer& optimizer);

// Keeps the first `lines` lines of a JSON-lines file (rewritten atomically): the metrics a
// resumed run keeps, so no step appears twice.
void truncate_lines(const std::string& path, uint64_t lines);

// Number of lines of a file (0 when it does not exist).
uint64_t count_lines(const std::string& path);

}  // namespace grpo::learner
