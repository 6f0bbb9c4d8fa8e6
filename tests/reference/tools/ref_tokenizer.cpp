// grpo_ref subcommands for tests/reference/test_tokenizer.py: batch encode / decode with
// grpo::Tokenizer, and train a tokenizer with grpo::train_bpe. One process per file, not per line.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/bpe_trainer.h"
#include "model/tokenizer.h"
#include "ref_tool.h"

namespace {

using json = nlohmann::json;

std::vector<json> read_jsonl(const std::string& path) {
  std::istringstream in(grpo::read_file(path));
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

void write_jsonl(const std::string& path, const std::vector<json>& rows) {
  std::string out;
  for (const json& row : rows) out += row.dump() + "\n";
  grpo::write_file_atomic(path, out);
}

// tokenizer-encode TOKENIZER.json IN.jsonl OUT.jsonl
// IN rows: {"text": str, "add_special_tokens": bool (default false)}; OUT rows: {"ids": [int]}.
int encode(const std::vector<std::string>& args) {
  if (args.size() != 3) throw grpo::Error("usage: tokenizer-encode TOKENIZER.json IN.jsonl OUT.jsonl");
  const grpo::Tokenizer tok = grpo::Tokenizer::from_file(args[0]);
  std::vector<json> out;
  for (const json& row : read_jsonl(args[1]))
    out.push_back({{"ids", tok.encode(row.at("text").get<std::string>(), row.value("add_special_tokens", false))}});
  write_jsonl(args[2], out);
  return 0;
}

// tokenizer-decode TOKENIZER.json IN.jsonl OUT.jsonl
// IN rows: {"ids": [int], "skip_special_tokens": bool (default false)}; OUT rows: {"text": str}.
int decode(const std::vector<std::string>& args) {
  if (args.size() != 3) throw grpo::Error("usage: tokenizer-decode TOKENIZER.json IN.jsonl OUT.jsonl");
  const grpo::Tokenizer tok = grpo::Tokenizer::from_file(args[0]);
  std::vector<json> out;
  for (const json& row : read_jsonl(args[1]))
    out.push_back(
        {{"text", tok.decode(row.at("ids").get<std::vector<int64_t>>(), row.value("skip_special_tokens", false))}});
  write_jsonl(args[2], out);
  return 0;
}

// tokenizer-train CORPUS.jsonl OUT_DIR VOCAB_SIZE [SPECIAL...]
// CORPUS rows: {"text": str}. Writes OUT_DIR/tokenizer.json and OUT_DIR/tokenizer_config.json
// (bos = first special, eos = second, chat template from the <｜User｜>/<｜Assistant｜> tokens
// when both are among the specials).
int train(const std::vector<std::string>& args) {
  if (args.size() < 3) throw grpo::Error("usage: tokenizer-train CORPUS.jsonl OUT_DIR VOCAB_SIZE [SPECIAL...]");
  std::vector<std::string> corpus;
  for (const json& row : read_jsonl(args[0])) corpus.push_back(row.at("text").get<std::string>());
  grpo::BpeTrainerOptions options;
  options.vocab_size = std::stoll(args[2]);
  options.special_tokens.assign(args.begin() + 3, args.end());
  grpo::write_json_file(args[1] + "/tokenizer.json", grpo::train_bpe(corpus, options));
  if (options.special_tokens.size() >= 2) {
    grpo::TokenizerConfigOptions config;
    config.bos_token = options.special_tokens[0];
    config.eos_token = options.special_tokens[1];
    const auto has = [&](const std::string& s) {
      return std::find(options.special_tokens.begin(), options.special_tokens.end(), s) != options.special_tokens.end();
    };
    if (has("<｜User｜>") && has("<｜Assistant｜>"))
      config.chat_template = grpo::deepseek_chat_template("<｜User｜>", "<｜Assistant｜>");
    grpo::write_json_file(args[1] + "/tokenizer_config.json", grpo::tokenizer_config_json(config));
  }
  return 0;
}

GRPO_REF_TOOL("tokenizer-encode", encode);
GRPO_REF_TOOL("tokenizer-decode", decode);
GRPO_REF_TOOL("tokenizer-train", train);

}  // namespace
