// grpo::Tokenizer: BPE merge order on a hand-made vocab, pre-tokenizer splits, special tokens,
// round trips, lossy decode, and load errors that name the file and field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/error.h"
#include "model/bpe_trainer.h"
#include "model/tokenizer.h"
#include "model/tokenizer_bytes.h"
#include "model/tokenizer_pretokenizer.h"
#include "model/tokenizer_regex.h"

using json = nlohmann::json;
using grpo::Tokenizer;

namespace {

// A tokenizer.json with the given vocab and merges, DeepSeek-V3's pre-tokenizer and decoder.
json tiny_tokenizer(const json& vocab, const json& merges, const json& added = json::array()) {
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", {{"type", "Sequence"}, {"normalizers", json::array()}}},
          {"pre_tokenizer", grpo::tok::deepseek_v3_pre_tokenizer_json()},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

// A tokenizer trained by our trainer on a small mixed corpus (the round-trip tests need every
// byte in the vocab, which the trainer guarantees).
const Tokenizer& trained() {
  static const Tokenizer tok = [] {
    grpo::BpeTrainerOptions options;
    options.vocab_size = 400;
    options.special_tokens = {"<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<think>", "</think>"};
    std::vector<std::string> corpus;
    for (int i = 0; i < 20; ++i) {
      corpus.push_back("The quick brown fox jumps over the lazy dog " + std::to_string(i * 7919));
      corpus.push_back("数学 问题：计算 12345 + 678 = 13023。答案是 13023");
      corpus.push_back("<think>\nLet me think... x^2 + y^2 = z^2\n</think>\n\n  indented\tcode();");
    }
    return Tokenizer::from_json(json::parse(grpo::train_bpe(corpus, options).dump()), "trained");
  }();
  return tok;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("grpo_tok_" + name + "_" + std::to_string(::getpid()))).string();
}

// Loads `j` from a file and returns the load error message ("" if it loaded).
std::string load_error(const std::string& text) {
  const std::string path = temp_path("bad.json");
  grpo::write_file_atomic(path, text);
  try {
    Tokenizer::from_file(path);
  } catch (const grpo::Error& e) {
    std::filesystem::remove(path);
    return e.what();
  }
  std::filesystem::remove(path);
  return "";
}

}  // namespace

TEST(TokenizerBpe, MergesApplyInRankOrderNotLeftToRight) {
  // Ranks: "b c" 0, "a b" 1, "a bc" 2, "c a" 3. For "abcab" (hand-computed):
  //   a b c a b -> rank 0 at (b,c): a [bc] a b -> (a,b)@0 is stale, rank 1 at (a,b)@3: a bc [ab]
  //   -> rank 2 at (a,bc): [abc] [ab]. A greedy left-to-right merge would give ab c ab instead.
  const json vocab = {{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"ca", 6}};
  const json merges = {"b c", "a b", json::array({"a", "bc"}), "c a"};  // both merge forms
  const Tokenizer tok = Tokenizer::from_json(tiny_tokenizer(vocab, merges), "tiny");
  EXPECT_EQ(tok.encode("abcab"), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(tok.decode({5, 3}), "abcab");
}

TEST(TokenizerBpe, EqualRanksMergeLeftmostFirst) {
  const json vocab = {{"a", 0}, {"aa", 1}};
  const Tokenizer tok = Tokenizer::from_json(tiny_tokenizer(vocab, {"a a"}), "tiny");
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(tok.encode("aaaa"), (std::vector<int64_t>{1, 1}));
}

TEST(TokenizerPreTokenizer, DeepSeekSplitsDigitsInThreesCjkRunsAndWords) {
  const auto pre =
      grpo::tok::PreTokenizer::from_json(grpo::tok::deepseek_v3_pre_tokenizer_json(), "t", "pre_tokenizer");
  using V = std::vector<std::string>;
  EXPECT_EQ(pre.pre_tokenize("1234567"), (V{"123", "456", "7"}));
  EXPECT_EQ(pre.pre_tokenize("Hello world!!\n\nok"), (V{"Hello", " world", "!!\n\n", "ok"}));
  EXPECT_EQ(pre.pre_tokenize("中文abc日本"), (V{"中文", "abc", "日本"}));
  EXPECT_EQ(pre.pre_tokenize("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(pre.pre_tokenize(".Net"), (V{".Net"}));
}

TEST(TokenizerPreTokenizer, WhitespaceMatchesOnigurumaNotPcre2) {
  // tokenizers' Oniguruma \s is White_Space: U+0085 yes, U+180E (Cf since Unicode 6.3) no.
  EXPECT_EQ(grpo::tok::oniguruma_to_pcre2(R"(\s+(?!\S)|[^\s\p{L}])"),
            R"(\p{White_Space}+(?!\P{White_Space})|[^\p{White_Space}\p{L}])");
  EXPECT_TRUE(grpo::tok::is_white_space(0x85));
  EXPECT_TRUE(grpo::tok::is_white_space(0x3000));
  EXPECT_FALSE(grpo::tok::is_white_space(0x180E));
  EXPECT_FALSE(grpo::tok::is_white_space(0x200B));
}

TEST(TokenizerRoundTrip, TextToIdsToText) {
  const Tokenizer& tok = trained();
  for (const std::string text :
       {"plain ASCII, with punctuation!?", "0 12 345 6789 3.14159 -42", "  leading\t\ttabs   and   runs  \n\n\r\n",
        "中文和日本語のテキスト", "emoji 🙂👍🏽 and 👨‍👩‍👧 family",
        "mixed Ελληνικά русский العربية café", ""}) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(tok.decode(ids), text) << text;
  }
}

TEST(TokenizerSpecial, SpecialTokensAreSplitOutAndSkippable) {
  const Tokenizer& tok = trained();
  ASSERT_EQ(tok.token_to_id("<｜begin▁of▁sentence｜>"), 0);
  ASSERT_EQ(tok.token_to_id("<｜end▁of▁sentence｜>"), 1);
  const int64_t think = *tok.token_to_id("<think>"), end_think = *tok.token_to_id("</think>");
  const auto ids = tok.encode("<｜begin▁of▁sentence｜>Hi<think>x</think><｜end▁of▁sentence｜>");
  ASSERT_GE(ids.size(), 6u);
  EXPECT_EQ(ids.front(), 0);
  EXPECT_EQ(ids.back(), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), think), 1);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), end_think), 1);
  EXPECT_TRUE(tok.is_special(think));
  EXPECT_EQ(tok.decode(ids), "<｜begin▁of▁sentence｜>Hi<think>x</think><｜end▁of▁sentence｜>");
  EXPECT_EQ(tok.decode(ids, /*skip_special_tokens=*/true), "Hix");
}

TEST(TokenizerDecode, InvalidBytesBecomeReplacementCharacters) {
  using grpo::tok::utf8_lossy;
  EXPECT_EQ(utf8_lossy("a\xff"
                       "b"),
            "a\uFFFDb");
  EXPECT_EQ(utf8_lossy("\xe4\xb8"), "\uFFFD");  // truncated 3-byte: one maximal subpart
  EXPECT_EQ(utf8_lossy("\xf0\x9f\x98"
                       "x"),
            "\uFFFDx");                                         // truncated 4-byte
  EXPECT_EQ(utf8_lossy("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate: each byte on its own
  EXPECT_EQ(utf8_lossy("\xc0\xaf"), "\uFFFD\uFFFD");            // overlong
  // Ids that cut "中" (e4 b8 ad) after two bytes decode to one U+FFFD.
  const Tokenizer& tok = trained();
  std::vector<int64_t> bytes;
  for (unsigned char c : std::string("\xe4\xb8"))
    bytes.push_back(*tok.token_to_id(grpo::tok::bytes_to_byte_level(std::string(1, c))));
  EXPECT_EQ(tok.decode(bytes), "\uFFFD");
  EXPECT_EQ(tok.decode({999999, -1}), "");  // unknown ids are skipped
}

TEST(TokenizerLoad, MalformedFilesNameTheFileAndField) {
  const json vocab = {{"a", 0}, {"b", 1}};
  EXPECT_NE(load_error("{not json").find("grpo_tok_bad.json"), std::string::npos);
  EXPECT_NE(load_error("{not json").find("not valid JSON"), std::string::npos);

  json j = tiny_tokenizer(vocab, json::array());
  j.erase("model");
  EXPECT_NE(load_error(j.dump()).find(": model: missing"), std::string::npos);

  j = tiny_tokenizer(vocab, {"a c"});
  const std::string merge_error = load_error(j.dump());
  EXPECT_NE(merge_error.find("grpo_tok_bad.json"), std::string::npos) << merge_error;
  EXPECT_NE(merge_error.find("model.merges[0]"), std::string::npos) << merge_error;

  j = tiny_tokenizer(vocab, {"ab"});
  EXPECT_NE(load_error(j.dump()).find("model.merges[0]"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["model"]["type"] = "WordPiece";
  EXPECT_NE(load_error(j.dump()).find("model.type"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  EXPECT_NE(load_error(j.dump()).find("pre_tokenizer.pretokenizers[0].pattern.Regex"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["pre_tokenizer"]["pretokenizers"][1]["behavior"] = "Sideways";
  EXPECT_NE(load_error(j.dump()).find("pre_tokenizer.pretokenizers[1].behavior"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(load_error(j.dump()).find("pre_tokenizer.type"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array(), json::array({{{"id", "x"}, {"content", "<s>"}}}));
  EXPECT_NE(load_error(j.dump()).find("added_tokens[0].id"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["normalizer"] = {{"type", "NFKC"}};
  EXPECT_NE(load_error(j.dump()).find("normalizer"), std::string::npos);

  j = tiny_tokenizer(vocab, json::array());
  j["model"]["vocab"]["c"] = -3;
  EXPECT_NE(load_error(j.dump()).find("model.vocab[\"c\"]"), std::string::npos);

  EXPECT_EQ(load_error(tiny_tokenizer(vocab, json::array()).dump()), "");  // the control loads
}
