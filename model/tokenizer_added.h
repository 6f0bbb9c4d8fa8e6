// `added_tokens` of a tokenizer.json and how they are cut out of text before pre-tokenization:
// leftmost-longest matching (as tokenizers' Aho-Corasick with MatchKind::LeftmostLongest) with
// the single_word / lstrip / rstrip flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace grpo::tok {

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);

  // One stretch of the text: an added token (token >= 0, index into tokens()) or plain text.
  struct Segment {
    size_t start, end;
    int token;
  };
  // Covers `text` (valid UTF-8) with segments in order; plain segments are never empty.
  std::vector<Segment> split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Byte trie; `token` is the index of the token ending at the node, or -1.
  struct Node {
    std::map<unsigned char, int> next;
    int token = -1;
  };
  // Longest token starting at text[pos]: (token index, length), or (-1, 0).
  std::pair<int, size_t> longest_at(std::string_view text, size_t pos) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> trie_{1};
};

}  // namespace grpo::tok
