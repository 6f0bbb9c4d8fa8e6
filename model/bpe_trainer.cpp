#include "model/bpe_trainer.h"

#include <algorithm>
#include <array>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/tokenizer_added.h"
#include "model/tokenizer_bytes.h"
#include "model/tokenizer_pretokenizer.h"

namespace grpo {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

namespace {

uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
int32_t pair_left(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t pair_right(uint64_t key) { return static_cast<int32_t>(key & 0xffffffffu); }

struct Word {
  std::vector<int32_t> symbols;
  int64_t count;
};

// Pre-tokens of the corpus (raw bytes) with their counts, special tokens cut out first.
std::map<std::string, int64_t> count_words(const std::vector<std::string>& corpus, const tok::PreTokenizer& pre,
                                           const tok::AddedTokenMatcher& specials) {
  std::map<std::string, int64_t> counts;  // ordered, so word order (and everything after) is fixed
  for (const std::string& raw : corpus) {
    const std::string text = tok::utf8_lossy(raw);
    for (const auto& seg : specials.split(text)) {
      if (seg.token >= 0) continue;
      for (const std::string& piece : pre.pre_tokenize(std::string_view(text).substr(seg.start, seg.end - seg.start)))
        ++counts[piece];
    }
  }
  return counts;
}

}  // namespace

ordered_json train_bpe(const std::vector<std::string>& corpus, const BpeTrainerOptions& options) {
  const json pre_json = options.pre_tokenizer.is_null() ? tok::deepseek_v3_pre_tokenizer_json() : options.pre_tokenizer;
  const tok::PreTokenizer pre = tok::PreTokenizer::from_json(pre_json, "BpeTrainerOptions", "pre_tokenizer");
  const int64_t base = static_cast<int64_t>(options.special_tokens.size()) + 256;
  if (options.vocab_size < base)
    throw Error("train_bpe: vocab_size " + std::to_string(options.vocab_size) + " is below " + std::to_string(base) +
                " (special tokens + 256 byte tokens); expected a larger vocab_size");

  // Token table: raw bytes for learned tokens; specials keep their text. `by_text` is keyed by
  // the text written in the vocab (byte-level string for learned tokens).
  std::vector<std::string> text_of, bytes_of;
  std::unordered_map<std::string, int32_t> by_text;
  std::vector<tok::AddedToken> added;
  for (const std::string& s : options.special_tokens) {
    if (s.empty() || by_text.count(s))
      throw Error("train_bpe: special token \"" + s + "\" is empty or repeated; expected distinct non-empty tokens");
    tok::AddedToken a;
    a.content = s;
    a.id = static_cast<int32_t>(text_of.size());
    a.special = true;
    added.push_back(a);
    by_text[s] = a.id;
    text_of.push_back(s);
    bytes_of.push_back(s);
  }
  std::array<int32_t, 256> byte_id{};
  for (int b = 0; b < 256; ++b) {
    const std::string bytes(1, static_cast<char>(b));
    const std::string text = tok::bytes_to_byte_level(bytes);
    if (by_text.count(text))
      throw Error("train_bpe: special token \"" + text + "\" is a single byte token; expected longer special tokens");
    byte_id[b] = static_cast<int32_t>(text_of.size());
    by_text[text] = byte_id[b];
    text_of.push_back(text);
    bytes_of.push_back(bytes);
  }

  std::vector<Word> words;
  for (const auto& [piece, count] : count_words(corpus, pre, tok::AddedTokenMatcher(added))) {
    Word w{{}, count};
    for (unsigned char c : piece) w.symbols.push_back(byte_id[c]);
    words.push_back(std::move(w));
  }

  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<uint32_t>> pair_words;  // may hold stale or repeated indices
  for (uint32_t w = 0; w < words.size(); ++w) {
    const auto& s = words[w].symbols;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t key = pair_key(s[i], s[i + 1]);
      pair_count[key] += words[w].count;
      auto& list = pair_words[key];
      if (list.empty() || list.back() != w) list.push_back(w);
    }
  }

  // Max-heap on count, ties to the lexicographically smallest (left bytes, right bytes).
  struct Entry {
    int64_t count;
    uint64_t pair;
  };
  auto worse = [&](const Entry& x, const Entry& y) {
    if (x.count != y.count) return x.count < y.count;
    const std::string &xl = bytes_of[pair_left(x.pair)], &yl = bytes_of[pair_left(y.pair)];
    if (xl != yl) return xl > yl;
    return bytes_of[pair_right(x.pair)] > bytes_of[pair_right(y.pair)];
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [key, count] : pair_count) heap.push({count, key});

  ordered_json merges = ordered_json::array();
  int64_t vocab = base;
  std::vector<uint32_t> stamp(words.size(), UINT32_MAX);  // last merge step that visited a word
  for (uint32_t step = 0; vocab < options.vocab_size && !heap.empty(); ++step) {
    const Entry top = heap.top();
    heap.pop();
    auto current = pair_count.find(top.pair);
    if (current == pair_count.end() || current->second != top.count || top.count <= 0) continue;  // stale
    if (top.count < options.min_frequency) break;
    const int32_t a = pair_left(top.pair), b = pair_right(top.pair);
    const std::string bytes = bytes_of[a] + bytes_of[b];
    const std::string text = tok::bytes_to_byte_level(bytes);
    int32_t merged;
    if (auto it = by_text.find(text); it != by_text.end()) {
      merged = it->second;  // another pair already built this string: reuse its id, as tokenizers does
    } else {
      merged = static_cast<int32_t>(text_of.size());
      by_text[text] = merged;
      text_of.push_back(text);
      bytes_of.push_back(bytes);
      ++vocab;
    }
    merges.push_back(ordered_json::array({text_of[a], text_of[b]}));

    // Re-count the pairs of every word holding (a, b): subtract its old pairs, add its new ones.
    std::unordered_set<uint64_t> touched;
    std::vector<uint32_t> holders = std::move(pair_words[top.pair]);
    pair_words.erase(top.pair);
    for (uint32_t w : holders) {
      if (stamp[w] == step) continue;
      stamp[w] = step;
      Word& word = words[w];
      std::vector<int32_t> next;
      next.reserve(word.symbols.size());
      bool changed = false;
      for (size_t i = 0; i < word.symbols.size(); ++i) {
        if (i + 1 < word.symbols.size() && word.symbols[i] == a && word.symbols[i + 1] == b) {
          next.push_back(merged);
          ++i;
          changed = true;
        } else {
          next.push_back(word.symbols[i]);
        }
      }
      if (!changed) continue;
      for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        const uint64_t key = pair_key(word.symbols[i], word.symbols[i + 1]);
        pair_count[key] -= word.count;
        touched.insert(key);
      }
      for (size_t i = 0; i + 1 < next.size(); ++i) {
        const uint64_t key = pair_key(next[i], next[i + 1]);
        pair_count[key] += word.count;
        touched.insert(key);
        auto& list = pair_words[key];
        if (list.empty() || list.back() != w) list.push_back(w);
      }
      word.symbols = std::move(next);
    }
    for (uint64_t key : touched) {
      const int64_t count = pair_count[key];
      if (count > 0)
        heap.push({count, key});
      else
        pair_count.erase(key);
    }
  }

  ordered_json added_json = ordered_json::array();
  for (const auto& a : added)
    added_json.push_back({{"id", a.id},
                          {"content", a.content},
                          {"single_word", false},
                          {"lstrip", false},
                          {"rstrip", false},
                          {"normalized", false},
                          {"special", true}});
  ordered_json vocab_json = ordered_json::object();
  for (size_t id = 0; id < text_of.size(); ++id) vocab_json[text_of[id]] = id;

  ordered_json out;
  out["version"] = "1.0";
  out["truncation"] = nullptr;
  out["padding"] = nullptr;
  out["added_tokens"] = std::move(added_json);
  out["normalizer"] = nullptr;
  out["pre_tokenizer"] = ordered_json::parse(pre_json.dump());
  out["post_processor"] = nullptr;
  out["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  out["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", nullptr},
                  {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", false},
                  {"vocab", std::move(vocab_json)},
                  {"merges", std::move(merges)}};
  return out;
}

ordered_json tokenizer_config_json(const TokenizerConfigOptions& o) {
  ordered_json j;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["bos_token"] = o.bos_token;
  j["eos_token"] = o.eos_token;
  j["pad_token"] = o.pad_token.empty() ? o.eos_token : o.pad_token;
  j["add_bos_token"] = false;  // the chat template writes BOS itself
  j["add_eos_token"] = false;
  j["clean_up_tokenization_spaces"] = false;
  j["model_max_length"] = o.model_max_length;
  if (!o.chat_template.empty()) j["chat_template"] = o.chat_template;
  return j;
}

std::string deepseek_chat_template(const std::string& user_token, const std::string& assistant_token) {
  return "{{ bos_token }}{% for message in messages %}"
         "{% if message['role'] == 'system' %}{{ message['content'] }}"
         "{% elif message['role'] == 'user' %}{{ '" +
         user_token +
         "' + message['content'] }}"
         "{% elif message['role'] == 'assistant' %}{{ '" +
         assistant_token +
         "' + message['content'] + eos_token }}"
         "{% endif %}{% endfor %}"
         "{% if add_generation_prompt %}{{ '" +
         assistant_token + "' }}{% endif %}";
}

void write_json_file(const std::string& path, const ordered_json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

}  // namespace grpo
