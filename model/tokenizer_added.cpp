#include "model/tokenizer_added.h"

#include <algorithm>

#include "model/tokenizer_bytes.h"
#include "model/tokenizer_regex.h"

namespace grpo::tok {
namespace {

// The character that ends text[0, end) (end > 0, valid UTF-8).
char32_t char_before(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
  return next_utf8(text, start);
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  for (size_t t = 0; t < tokens_.size(); ++t) {
    int node = 0;
    for (unsigned char c : tokens_[t].content) {
      auto it = trie_[node].next.find(c);
      if (it == trie_[node].next.end()) {
        trie_.emplace_back();
        it = trie_[node].next.emplace(c, static_cast<int>(trie_.size() - 1)).first;
      }
      node = it->second;
    }
    if (node != 0 && trie_[node].token < 0) trie_[node].token = static_cast<int>(t);
  }
}

std::pair<int, size_t> AddedTokenMatcher::longest_at(std::string_view text, size_t pos) const {
  std::pair<int, size_t> best{-1, 0};
  int node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = trie_[node].next.find(static_cast<unsigned char>(text[i]));
    if (it == trie_[node].next.end()) break;
    node = it->second;
    if (trie_[node].token >= 0) best = {trie_[node].token, i + 1 - pos};
  }
  return best;
}

std::vector<AddedTokenMatcher::Segment> AddedTokenMatcher::split(std::string_view text) const {
  std::vector<Segment> out;
  size_t start_offset = 0;  // end of what is already covered
  size_t pos = 0;           // where the next match search begins
  while (pos < text.size() && !tokens_.empty()) {
    const auto [token, len] = longest_at(text, pos);
    if (token < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // matches never overlap, even when a flag below rejects one
    const AddedToken& t = tokens_[token];
    if (t.single_word) {
      const bool space_before = start == 0 || !is_alphanumeric(char_before(text, start));
      size_t after = stop;
      const bool space_after = stop == text.size() || !is_alphanumeric(next_utf8(text, after));
      if (!space_before || !space_after) continue;
    }
    if (t.lstrip) {
      size_t s = start;
      while (s > 0 && is_white_space(char_before(text, s))) {
        size_t c = s - 1;
        while (c > 0 && (static_cast<uint8_t>(text[c]) & 0xC0) == 0x80) --c;
        s = c;
      }
      start = std::max(s, start_offset);
    }
    if (t.rstrip) {
      while (stop < text.size()) {
        size_t next = stop;
        if (!is_white_space(next_utf8(text, next))) break;
        stop = next;
      }
      pos = std::max(pos, stop);  // what rstrip swallowed cannot start another token
    }
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token});
    start_offset = stop;
  }
  if (start_offset < text.size()) out.push_back({start_offset, text.size(), -1});
  return out;
}

}  // namespace grpo::tok
