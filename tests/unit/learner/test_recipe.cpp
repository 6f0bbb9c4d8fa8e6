#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "learner/recipe.h"

using namespace grpo::learner;
using nlohmann::json;

namespace {

json minimal() {
  return json{{"model", {{"config", "model.json"}}},
              {"data", {{"train", "data/train.jsonl"}}},
              {"reward", {{"script", "reward.lua"}}}};
}

std::string error_of(const json& raw) {
  try {
    resolve_recipe(raw, "/recipes/math/recipe.json");
  } catch (const grpo::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Recipe, DefaultsAreFilledAndPathsResolvedAgainstTheRecipeFolder) {
  auto r = resolve_recipe(minimal(), "/recipes/math/recipe.json");
  EXPECT_EQ(r.get<std::string>("data", "train"), "/recipes/math/data/train.jsonl");
  EXPECT_EQ(r.get<std::string>("reward", "script"), "/recipes/math/reward.lua");
  EXPECT_EQ(r.get<long>("rollout", "group_size"), 8);
  EXPECT_EQ(r.get<std::string>("runtime", "mode"), "threads");
  EXPECT_EQ(r.algorithm.preset, "grpo");
  EXPECT_EQ(r.values["name"], "math");
  auto resolved = r.resolved();
  EXPECT_EQ(resolved["algorithm"]["loss_agg"], "seq-mean-token-mean");
  for (const auto& k : recipe_schema()) EXPECT_TRUE(resolved[k.section].contains(k.key)) << k.section << "." << k.key;
}

TEST(Recipe, ValuesOverrideDefaultsWithTypesChecked) {
  json raw = minimal();
  raw["rollout"] = {{"group_size", 4}, {"temperature", 0.7}, {"stop", {"</answer>"}}};
  raw["algorithm"] = {{"preset", "dapo"}};
  auto r = resolve_recipe(raw, "r/recipe.json");
  EXPECT_EQ(r.get<long>("rollout", "group_size"), 4);
  EXPECT_DOUBLE_EQ(r.get<double>("rollout", "temperature"), 0.7);
  EXPECT_DOUBLE_EQ(r.algorithm.loss.clip_high, 0.28);
}

TEST(Recipe, ErrorsNameFileKeyAndWhatIsAllowed) {
  json raw = minimal();
  raw["rolout"] = json::object();
  auto e = error_of(raw);
  EXPECT_NE(e.find("recipe.json: rolout: unknown section"), std::string::npos) << e;
  EXPECT_NE(e.find("rollout"), std::string::npos) << e;

  raw = minimal();
  raw["rollout"] = {{"groupsize", 4}};
  e = error_of(raw);
  EXPECT_NE(e.find("rollout.groupsize: unknown key"), std::string::npos) << e;
  EXPECT_NE(e.find("group_size"), std::string::npos) << e;

  raw = minimal();
  raw["rollout"] = {{"group_size", "8"}};
  EXPECT_NE(error_of(raw).find("rollout.group_size: expected integer"), std::string::npos) << error_of(raw);

  raw = minimal();
  raw["rollout"] = {{"group_size", 2.5}};
  EXPECT_NE(error_of(raw).find("an integer"), std::string::npos);

  raw = minimal();
  raw["rollout"] = {{"top_p", 0}};
  EXPECT_NE(error_of(raw).find("rollout.top_p: value 0 out of range"), std::string::npos) << error_of(raw);

  raw = minimal();
  raw["optim"] = {{"schedule", "linear"}};
  EXPECT_NE(error_of(raw).find("allowed: constant, cosine"), std::string::npos) << error_of(raw);

  raw = minimal();
  raw.erase("reward");
  EXPECT_NE(error_of(raw).find("reward.script: required key is missing"), std::string::npos) << error_of(raw);

  raw = minimal();
  raw["model"] = json::object();
  EXPECT_NE(error_of(raw).find("model.init"), std::string::npos);

  raw = minimal();
  raw["algorithm"] = {{"preset", "ppo"}};
  EXPECT_NE(error_of(raw).find("algorithm.preset"), std::string::npos);

  EXPECT_NE(error_of(json::array()).find("one JSON object"), std::string::npos);
}

TEST(Recipe, ReadmeDocumentsEveryKey) {
  // The README's recipe table must list every key of the schema (one source of truth).
  std::ifstream in(std::string(GRPO_SOURCE_DIR) + "/README.md");
  std::stringstream readme;
  readme << in.rdbuf();
  for (const auto& k : recipe_schema())
    EXPECT_NE(readme.str().find("`" + k.section + "." + k.key + "`"), std::string::npos)
        << "README.md lacks `" << k.section << "." << k.key
        << "`; regenerate the table with `grpo train --print-schema`";
}

TEST(Recipe, EveryKeyIsReadBySomething) {
  // A documented key that no code reads is a promise the program does not keep. Every schema key
  // must appear as a string literal in a source file other than the schema itself.
  std::string sources;
  for (const char* folder : {"actor", "learner", "cli", "recipes", "rollout", "rewards", "model"})
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(std::string(GRPO_SOURCE_DIR) + "/" + folder)) {
      const auto& path = entry.path();
      if (path.extension() != ".cpp" || path.filename() == "recipe.cpp") continue;
      std::ifstream in(path);
      std::stringstream text;
      text << in.rdbuf();
      sources += text.str();
    }
  for (const auto& k : recipe_schema())
    EXPECT_NE(sources.find("\"" + k.key + "\""), std::string::npos)
        << k.section << "." << k.key << " is in the schema and the README, but no code reads it";
}
