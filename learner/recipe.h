// recipe.json: one object with a section per concern. The schema below is the single source of
// truth for every key (type, default, range, meaning); the README's recipe table lists the same
// keys (a unit test checks it), and `grpo train --print-schema` prints them.
//
// Resolution: unknown sections or keys and wrong types are errors naming the file, the key and
// the allowed values; missing keys get their defaults; paths are made relative to the recipe's
// folder. The "algorithm" section starts from a named preset (learner/algorithm_config.h).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "learner/algorithm_config.h"

namespace grpo::learner {

struct RecipeKey {
  enum class Type { kNumber, kInteger, kBool, kString, kPath, kChoice, kStringList };
  std::string section;
  std::string key;
  Type type;
  nlohmann::json default_value;      // null: required
  double min = 0, max = 0;           // for kNumber / kInteger (inclusive)
  std::vector<std::string> choices;  // for kChoice
  std::string doc;
};

// Every key except the "algorithm" section's (whose keys and defaults come from its preset).
const std::vector<RecipeKey>& recipe_schema();

struct Recipe {
  std::string file;       // the recipe.json path
  std::string dir;        // its folder; relative paths are resolved against it
  nlohmann::json values;  // resolved: every section and key present, types checked
  AlgorithmConfig algorithm;

  template <class T>
  T get(const std::string& section, const std::string& key) const {
    return values.at(section).at(key).get<T>();
  }
  // The resolved configuration, algorithm included (printed at start, saved in the run folder).
  nlohmann::json resolved() const;
  // The run folder: train.run_dir, or runs/<name> (from the current folder) when it is empty.
  std::string run_dir() const;
};

// Reads and resolves a recipe. `path` is a recipe.json or a folder containing one.
Recipe load_recipe(const std::string& path);
Recipe resolve_recipe(const nlohmann::json& raw, const std::string& file);

// The schema as a Markdown table (section, key, type, default, range, meaning).
std::string recipe_schema_markdown();

}  // namespace grpo::learner
