// Splitting a global batch of sequences into micro-batches under a token budget, and
// collating one micro-batch into padded tensors with next-token targets and a loss mask.
// Used by SFT and by the GRPO step alike (prompt tokens never carry loss).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace grpo::learner {

struct TrainSequence {
  std::vector<int64_t> tokens;  // prompt followed by completion
  int64_t prompt_len = 0;       // tokens[prompt_len:] are the completion (the loss is on them)
};

// Groups sequence indices into micro-batches whose padded size (rows × longest row) stays within
// `max_tokens`. Sequences are sorted by length first so rows of a micro-batch have similar
// lengths (little padding); a sequence longer than the budget gets a micro-batch of its own.
// Deterministic: ties keep the input order.
std::vector<std::vector<size_t>> plan_micro_batches(const std::vector<size_t>& lengths, size_t max_tokens);

struct MicroBatch {
  torch::Tensor input;       // [B, S] int64, right-padded with pad_id
  torch::Tensor attention;   // [B, S] 1 for real tokens
  torch::Tensor targets;     // [B, S-1] int64: input shifted left (the next token)
  torch::Tensor loss_mask;   // [B, S-1] float: 1 where the target is a completion token
  std::vector<size_t> rows;  // which sequences, in row order
};

MicroBatch collate(const std::vector<TrainSequence>& sequences, const std::vector<size_t>& rows, int64_t pad_id);

// Per-row values aligned with the targets of a micro-batch: values[i] (one per completion token
// of sequence rows[i]) are placed at the completion positions, zeros elsewhere. [B, S-1] FP32.
torch::Tensor align_to_targets(const MicroBatch& batch, const std::vector<TrainSequence>& sequences,
                               const std::vector<std::vector<float>>& per_completion_token);

}  // namespace grpo::learner
