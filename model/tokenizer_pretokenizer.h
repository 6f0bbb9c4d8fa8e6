// Pre-tokenizers of a Hugging Face tokenizer.json: `Sequence` of `Split` / `Digits` steps ending
// in `ByteLevel`, as DeepSeek-V3 and GPT-2-style trained tokenizers use. Pieces are returned
// as raw UTF-8 bytes; the ByteLevel byte->character map is applied by the BPE model.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/tokenizer_regex.h"

namespace grpo::tok {

// What `Split` does with a match (tokenizers' SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Cuts `text` at the matches of `re` exactly as tokenizers' NormalizedString::split does
// (with `invert`, the non-matches play the role of matches). Returns [start, end) byte ranges,
// empty ones dropped.
std::vector<std::pair<size_t, size_t>> split_pieces(std::string_view text, const Regex& re, SplitBehavior behavior,
                                                    bool invert);

class PreTokenizer {
 public:
  // Parses the `pre_tokenizer` object; `file` and `field` locate it in error messages.
  static PreTokenizer from_json(const nlohmann::json& j, const std::string& file, const std::string& field);

  // Pre-tokens of one stretch of normalized text (valid UTF-8) that holds no added token.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

 private:
  struct Step {
    enum class Kind { kSplit, kByteLevel } kind = Kind::kSplit;
    std::shared_ptr<const Regex> regex;  // kSplit, or kByteLevel with use_regex
    SplitBehavior behavior = SplitBehavior::kIsolated;
    bool invert = false;
    bool add_prefix_space = false;  // kByteLevel
  };
  void parse_step(const nlohmann::json& j, const std::string& file, const std::string& field, bool last);

  std::vector<Step> steps_;
};

// DeepSeek-V3's `pre_tokenizer`, as in its tokenizer.json: digits in runs of at most three,
// CJK runs, the word/punctuation/whitespace split, then ByteLevel without its own regex.
nlohmann::json deepseek_v3_pre_tokenizer_json();

}  // namespace grpo::tok
