// Prompt files (JSONL) as `grpo generate` and `grpo train` read them: one object per line with
// `tokens` (ids) or `prompt` (text, tokenized, with BOS when the model has one), plus any other
// fields (kept for the reward script). Errors name the file, the line and the field.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace grpo::actor {

struct PromptRow {
  nlohmann::json row;           // the whole row; `prompt` is set ("" for token rows)
  std::vector<int64_t> tokens;  // the prompt's ids
};

// `missing_tokenizer_hint` says where a tokenizer would come from, for the error on text rows.
std::vector<int64_t> encode_prompt(const std::string& text, const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                   const std::string& where, const std::string& missing_tokenizer_hint);

std::vector<PromptRow> read_prompt_rows(const std::string& path, const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                        const std::string& missing_tokenizer_hint);

// The same for rows already in memory (a recipe's generated eval set); `source` names them in
// errors ("row N of <source>").
std::vector<PromptRow> prompt_rows_from_json(const std::vector<nlohmann::json>& rows, const std::string& source,
                                             const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                             const std::string& missing_tokenizer_hint);

}  // namespace grpo::actor
