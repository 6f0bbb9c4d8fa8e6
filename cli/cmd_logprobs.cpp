// `grpo logprobs`: per-token log-probabilities of each next token under a checkpoint (FP32), as
// JSONL, for perplexity checks and for debugging log-prob mismatches between rollout and learner.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/jsonl.h"
#include "model/checkpoint.h"
#include "model/logprobs.h"
#include "model/tokenizer.h"

namespace grpo::cli {
namespace {

std::vector<int64_t> row_tokens(const nlohmann::json& row, const std::string& where, const std::string& ckpt,
                                std::unique_ptr<Tokenizer>& tokenizer) {
  if (!row.is_object()) throw file_error(where, "", "each line must be a JSON object with `tokens` or `text`");
  if (row.contains("tokens")) {
    const auto& t = row.at("tokens");
    if (!t.is_array()) throw file_error(where, "tokens", "must be a list of token ids");
    std::vector<int64_t> ids;
    for (const auto& v : t) {
      if (!v.is_number_integer()) throw file_error(where, "tokens", "must hold integers, got " + v.dump());
      ids.push_back(v.get<int64_t>());
    }
    return ids;
  }
  if (row.contains("text")) {
    if (!row.at("text").is_string()) throw file_error(where, "text", "must be a string");
    if (!tokenizer) {
      const std::string path = (std::filesystem::path(ckpt) / "tokenizer.json").string();
      if (!std::filesystem::exists(path))
        throw file_error(where, "text", "needs " + path + " to tokenize; give `tokens` (ids) instead");
      tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(path));
    }
    return tokenizer->encode(row.at("text").get<std::string>(), /*add_special_tokens=*/true);
  }
  throw file_error(where, "", "needs `tokens` (a list of ids) or `text`");
}

int run_logprobs(const std::vector<std::string>& argv) {
  Args args("logprobs",
            {{"--input", true, "JSONL rows with `tokens` or `text`"}, {"--out", true, "output JSONL (default stdout)"}},
            argv);
  const std::string ckpt = args.positional_at(0, "CKPT");
  if (args.positional().size() > 1) throw UsageError("unexpected argument '" + args.positional()[1] + "'");
  const std::string input = args.require("--input");
  require_exists(ckpt, "checkpoint");
  require_exists(input, "input");

  torch::NoGradGuard no_grad;
  model::CausalLM lm = model::load_checkpoint(ckpt, torch::kFloat32);
  lm->eval();
  std::unique_ptr<Tokenizer> tokenizer;
  std::ostringstream out;
  for (auto& [row, number] : read_jsonl(input)) {
    const std::string where = input + ": line " + std::to_string(number);
    auto ids = row_tokens(row, where, ckpt, tokenizer);
    for (int64_t id : ids)
      if (id < 0 || id >= lm->config.vocab_size)
        throw file_error(where, "tokens",
                         "id " + std::to_string(id) + " is outside the vocabulary [0, " +
                             std::to_string(lm->config.vocab_size) + ")");
    nlohmann::json result = {{"tokens", ids}};
    std::vector<double> lps;
    if (ids.size() >= 2) {
      auto t = torch::tensor(ids, torch::kLong).unsqueeze(0);                                  // [1, S]
      auto lp = model::next_token_logprobs(lm->forward(t).logits, t).squeeze(0).contiguous();  // [S-1] FP32
      lps.assign(lp.data_ptr<float>(), lp.data_ptr<float>() + lp.numel());
    }
    double sum = 0;
    for (double v : lps) sum += v;
    result["logprobs"] = lps;  // logprobs[i] = log p(tokens[i+1] | tokens[..i])
    result["sum_logprob"] = sum;
    result["perplexity"] = lps.empty() ? 1.0 : std::exp(-sum / static_cast<double>(lps.size()));
    out << result.dump() << "\n";
  }
  if (args.has("--out"))
    write_file_atomic(args.get("--out", ""), out.str());
  else
    std::fputs(out.str().c_str(), stdout);
  return 0;
}

}  // namespace
}  // namespace grpo::cli

GRPO_COMMAND("logprobs", "per-token log-probabilities of texts under a checkpoint",
             "usage: grpo logprobs CKPT --input FILE.jsonl [--out FILE.jsonl]\n"
             "Rows carry `tokens` (ids) or `text` (needs CKPT/tokenizer.json; special tokens added).\n"
             "Each output row: {\"tokens\": [...], \"logprobs\": [...], \"sum_logprob\": x, \"perplexity\": y},\n"
             "logprobs[i] = log p(tokens[i+1] | tokens[0..i]) in FP32.",
             grpo::cli::run_logprobs, 40);
