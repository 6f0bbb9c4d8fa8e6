// SFT training rows: JSONL with `prompt` and `completion` text (tokenized with the given
// tokenizer, BOS prepended when the model has one) or `prompt_tokens` and `completion_tokens` ids.
// With an EOS id, it ends every completion (appended unless the row ends with it already), as in
// the recipe pipeline's traces: a model SFT'ed on the rows learns to stop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "learner/micro_batches.h"
#include "model/tokenizer.h"

namespace grpo::learner {

// Errors name the file, the line and the field.
std::vector<TrainSequence> read_sft_data(const std::string& path, const Tokenizer* tokenizer, int64_t vocab_size,
                                         std::optional<int64_t> bos_token_id,
                                         std::optional<int64_t> eos_token_id = std::nullopt);

}  // namespace grpo::learner
