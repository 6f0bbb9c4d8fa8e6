// Learns a byte-level BPE tokenizer from a corpus and writes it as Hugging Face files
// (tokenizer.json, tokenizer_config.json) that Python `tokenizers` / transformers load and
// that encode identically with grpo::Tokenizer.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grpo {

struct BpeTrainerOptions {
  // Total vocabulary: special tokens + the 256 byte tokens + one per learned merge.
  int64_t vocab_size = 0;
  // Get ids 0, 1, ... in this order (so a recipe passing BOS, EOS first gets DeepSeek's 0 / 1),
  // are cut out of the corpus before counting, and become special added tokens.
  std::vector<std::string> special_tokens;
  // A pair seen fewer times than this (weighted by word counts) is never merged.
  int64_t min_frequency = 2;
  // The pre_tokenizer written to tokenizer.json and used to split the corpus;
  // null means DeepSeek-V3's (tok::deepseek_v3_pre_tokenizer_json()).
  nlohmann::json pre_tokenizer;
};

// Learns the merges and returns the tokenizer.json object (keys in the usual order).
// Merges are chosen by highest pair count; ties go to the pair whose (left, right) byte
// strings sort first, so the result is the same on every machine and run.
nlohmann::ordered_json train_bpe(const std::vector<std::string>& corpus, const BpeTrainerOptions& options);

struct TokenizerConfigOptions {
  std::string bos_token;
  std::string eos_token;
  std::string pad_token;      // empty: the eos token
  std::string chat_template;  // Jinja; empty: no chat_template key
  int64_t model_max_length = 4096;
};
nlohmann::ordered_json tokenizer_config_json(const TokenizerConfigOptions& options);

// DeepSeek-V3's chat layout ({bos}{system}<User>{u}<Assistant>{a}{eos}..., generation prompt
// <Assistant>) for the given role tokens, as a Jinja template transformers can render.
std::string deepseek_chat_template(const std::string& user_token, const std::string& assistant_token);

// Writes `j` to `path` atomically (pretty-printed, UTF-8 unescaped as tokenizers writes it).
void write_json_file(const std::string& path, const nlohmann::ordered_json& j);

}  // namespace grpo
