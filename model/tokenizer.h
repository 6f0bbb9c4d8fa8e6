// A Hugging Face tokenizer.json of the byte-level BPE kind (DeepSeek-V3 and the tokenizers our
// trainer writes): encode text to ids and decode ids to text, exactly as Python `tokenizers`.
//
// Encode: added tokens are cut out first (those with normalized=false, then the others), the
// rest is pre-tokenized (Split / Digits steps, then ByteLevel) and each piece is BPE-merged.
// Decode: ids -> tokens -> bytes (ByteLevel map) -> UTF-8, ill-formed bytes become U+FFFD.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/tokenizer_added.h"
#include "model/tokenizer_bpe.h"
#include "model/tokenizer_pretokenizer.h"

namespace grpo {

class Tokenizer {
 public:
  // Loads tokenizer.json; errors name the file and the JSON field.
  static Tokenizer from_file(const std::string& path);
  // Same, from parsed JSON; `source` names it in errors.
  static Tokenizer from_json(const nlohmann::json& j, const std::string& source);

  // Text -> ids. Text that is not valid UTF-8 is first repaired with U+FFFD (Python strings
  // are always valid). add_special_tokens applies the post_processor (e.g. a BOS prefix), as
  // `Tokenizer.encode(text, add_special_tokens=True)` does. Thread-safe.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = false) const;

  // Ids -> text. Unknown ids are skipped, as tokenizers does. Python's `decode` defaults to
  // skip_special_tokens=True; here the caller says which it wants.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = false) const;

  std::optional<int64_t> token_to_id(std::string_view token) const;
  std::optional<std::string> id_to_token(int64_t id) const;
  bool is_special(int64_t id) const;
  // One past the largest id (model vocab and added tokens); embedding tables need >= this.
  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<tok::AddedToken>& added_tokens() const { return added_; }

 private:
  tok::BpeModel model_;
  std::shared_ptr<const tok::PreTokenizer> pre_tokenizer_;
  std::vector<tok::AddedToken> added_;
  tok::AddedTokenMatcher raw_matcher_;            // added tokens with normalized == false
  tok::AddedTokenMatcher normalized_matcher_;     // the others
  std::vector<int64_t> prefix_ids_, suffix_ids_;  // post_processor, single sequence

  // Indexed by id: the token string ("" and absent for gaps), its decoded bytes, specialness.
  struct TokenInfo {
    std::string text;
    std::string bytes;
    bool present = false;
    bool special = false;
  };
  std::vector<TokenInfo> tokens_;
  std::unordered_map<std::string, int32_t> added_ids_;
  bool byte_level_decoder_ = true;
};

}  // namespace grpo
