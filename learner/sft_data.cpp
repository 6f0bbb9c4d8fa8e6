#include "learner/sft_data.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/jsonl.h"

namespace grpo::learner {
namespace {

using nlohmann::json;

std::vector<int64_t> ids_field(const json& row, const char* key, const std::string& where, int64_t vocab) {
  if (!row.contains(key) || !row[key].is_array()) throw file_error(where, key, "expected a list of token ids");
  std::vector<int64_t> ids;
  for (const auto& v : row[key]) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      throw file_error(where, key, "token id " + v.dump() + " is not in 0.." + std::to_string(vocab - 1));
    ids.push_back(v.get<int64_t>());
  }
  return ids;
}

}  // namespace

std::vector<TrainSequence> read_sft_data(const std::string& path, const Tokenizer* tokenizer, int64_t vocab,
                                         std::optional<int64_t> bos, std::optional<int64_t> eos) {
  std::vector<TrainSequence> out;
  for (auto& [row, n] : read_jsonl(path)) {
    const std::string where = path + ": line " + std::to_string(n);
    if (!row.is_object()) throw file_error(path, "line " + std::to_string(n), "is not a JSON object");
    std::vector<int64_t> prompt, completion;
    if (row.contains("prompt_tokens")) {
      prompt = ids_field(row, "prompt_tokens", where, vocab);
      completion = ids_field(row, "completion_tokens", where, vocab);
    } else {
      if (!row.contains("prompt") || !row.contains("completion") || !row["prompt"].is_string() ||
          !row["completion"].is_string())
        throw file_error(where, "prompt",
                         "expected `prompt` and `completion` strings (or prompt_tokens/completion_tokens)");
      if (!tokenizer) throw file_error(where, "prompt", "text rows need a tokenizer: pass --tokenizer tokenizer.json");
      prompt = tokenizer->encode(row["prompt"].get<std::string>());
      completion = tokenizer->encode(row["completion"].get<std::string>());
      if (bos) prompt.insert(prompt.begin(), *bos);
    }
    if (prompt.empty()) throw file_error(where, "prompt", "is empty (a completion needs at least one token before it)");
    if (completion.empty()) throw file_error(where, "completion", "is empty");
    if (eos && completion.back() != *eos) completion.push_back(*eos);
    TrainSequence s;
    s.prompt_len = static_cast<int64_t>(prompt.size());
    s.tokens = prompt;
    s.tokens.insert(s.tokens.end(), completion.begin(), completion.end());
    out.push_back(std::move(s));
  }
  if (out.empty()) throw file_error(path, "", "has no rows");
  return out;
}

}  // namespace grpo::learner
