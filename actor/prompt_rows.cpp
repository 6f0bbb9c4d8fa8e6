#include "actor/prompt_rows.h"

#include "common/error.h"
#include "common/jsonl.h"

namespace grpo::actor {

using nlohmann::json;

std::vector<int64_t> encode_prompt(const std::string& text, const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                   const std::string& where, const std::string& missing_tokenizer_hint) {
  if (!tokenizer)
    throw file_error(where, "prompt", "text prompts need " + missing_tokenizer_hint + " (or give `tokens`)");
  auto ids = tokenizer->encode(text);
  if (bos) ids.insert(ids.begin(), *bos);
  return ids;
}

namespace {

PromptRow prompt_row(json row, const std::string& where, const Tokenizer* tokenizer, std::optional<int64_t> bos,
                     const std::string& missing_tokenizer_hint) {
  if (!row.is_object()) throw file_error(where, "", "is not a JSON object");
  PromptRow p;
  if (row.contains("tokens")) {
    if (!row["tokens"].is_array()) throw file_error(where, "tokens", "expected a list of token ids");
    for (const auto& v : row["tokens"]) {
      if (!v.is_number_integer()) throw file_error(where, "tokens", "expected integers, got " + v.dump());
      p.tokens.push_back(v.get<int64_t>());
    }
  } else if (row.contains("prompt") && row["prompt"].is_string()) {
    p.tokens = encode_prompt(row["prompt"].get<std::string>(), tokenizer, bos, where, missing_tokenizer_hint);
  } else {
    throw file_error(where, "prompt", "expected `prompt` (text) or `tokens` (ids)");
  }
  if (!row.contains("prompt")) row["prompt"] = "";
  p.row = std::move(row);
  return p;
}

}  // namespace

std::vector<PromptRow> read_prompt_rows(const std::string& path, const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                        const std::string& missing_tokenizer_hint) {
  std::vector<PromptRow> rows;
  for (auto& [value, n] : read_jsonl(path))
    rows.push_back(
        prompt_row(std::move(value), path + ": line " + std::to_string(n), tokenizer, bos, missing_tokenizer_hint));
  if (rows.empty()) throw file_error(path, "", "has no prompts");
  return rows;
}

std::vector<PromptRow> prompt_rows_from_json(const std::vector<json>& rows, const std::string& source,
                                             const Tokenizer* tokenizer, std::optional<int64_t> bos,
                                             const std::string& missing_tokenizer_hint) {
  std::vector<PromptRow> out;
  for (size_t i = 0; i < rows.size(); ++i)
    out.push_back(
        prompt_row(rows[i], "row " + std::to_string(i + 1) + " of " + source, tokenizer, bos, missing_tokenizer_hint));
  if (out.empty()) throw file_error(source, "", "has no prompts");
  return out;
}

}  // namespace grpo::actor
