// grpo::train_bpe on corpora small enough to compute the merges by hand.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "model/bpe_trainer.h"
#include "model/tokenizer.h"

using json = nlohmann::json;

namespace {

grpo::BpeTrainerOptions options(int64_t vocab_size, int64_t min_frequency = 2) {
  grpo::BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.min_frequency = min_frequency;
  return o;
}

}  // namespace

TEST(BpeTrainer, LearnsMostFrequentPairsFirst) {
  // Pre-tokens "ab", " ab", " ab": pairs (a,b) x3, (Ġ,a) x2. First "a b"; then (Ġ,ab) x2.
  const auto j = grpo::train_bpe({"ab ab ab"}, options(256 + 2));
  EXPECT_EQ(j["model"]["merges"], json::parse(R"([["a","b"],["Ġ","ab"]])"));
  EXPECT_EQ(j["model"]["vocab"]["ab"], 256);
  EXPECT_EQ(j["model"]["vocab"]["Ġab"], 257);
}

TEST(BpeTrainer, TiesGoToTheSmallestBytes) {
  // Pre-tokens "xy", " yx": (x,y), (Ġ,y), (y,x) each once; ' ' (0x20) sorts before 'x' and 'y'.
  const auto j = grpo::train_bpe({"xy yx"}, options(256 + 1, /*min_frequency=*/1));
  EXPECT_EQ(j["model"]["merges"], json::parse(R"([["Ġ","y"]])"));
}

TEST(BpeTrainer, StopsBelowMinFrequency) {
  const auto j = grpo::train_bpe({"ab cd"}, options(1000, /*min_frequency=*/2));
  EXPECT_TRUE(j["model"]["merges"].empty());
  EXPECT_EQ(j["model"]["vocab"].size(), 256u);
}

TEST(BpeTrainer, SpecialTokensTakeTheFirstIdsAndAreNotLearned) {
  auto o = options(300);
  o.special_tokens = {"<bos>", "<eos>"};
  const auto j = grpo::train_bpe({"<bos>hello hello<eos>", "<bos>hello<eos>"}, o);
  EXPECT_EQ(j["added_tokens"][0]["content"], "<bos>");
  EXPECT_EQ(j["added_tokens"][0]["id"], 0);
  EXPECT_EQ(j["added_tokens"][1]["id"], 1);
  EXPECT_EQ(j["added_tokens"][1]["special"], true);
  for (const auto& m : j["model"]["merges"]) EXPECT_EQ(m[0].get<std::string>().find('<'), std::string::npos) << m;
  const auto tok = grpo::Tokenizer::from_json(json::parse(j.dump()), "trained");
  const auto ids = tok.encode("<bos>hello<eos>");
  EXPECT_EQ(ids, (std::vector<int64_t>{0, *tok.token_to_id("hello"), 1}));
}

TEST(BpeTrainer, SameCorpusSameFile) {
  const std::vector<std::string> corpus = {"the cat sat on the mat", "the dog sat on the log", "数字 123456 数字"};
  EXPECT_EQ(grpo::train_bpe(corpus, options(280)).dump(), grpo::train_bpe(corpus, options(280)).dump());
}

TEST(BpeTrainer, RejectsVocabSmallerThanTheBytes) {
  auto o = options(257);
  o.special_tokens = {"<bos>", "<eos>"};
  EXPECT_THROW(grpo::train_bpe({"x"}, o), grpo::Error);
}
