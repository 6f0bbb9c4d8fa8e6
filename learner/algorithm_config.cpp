#include "learner/algorithm_config.h"

#include <functional>
#include <map>

#include "common/error.h"

namespace grpo::learner {

AlgorithmConfig algorithm_preset(const std::string& name) {
  AlgorithmConfig c;
  c.preset = name;
  if (name == "grpo") {
    // DeepSeekMath: group-normalised advantages, per-sequence token mean, k3 KL in the loss.
    c.advantages.estimator = AdvantageEstimator::kGroupNorm;
    c.loss.aggregation = LossAggregation::kSeqMeanTokenMean;
    c.loss.clip_low = c.loss.clip_high = 0.2;
    c.loss.kl_coef = 0.04;
    c.loss.kl_estimator = KlEstimator::kK3;
  } else if (name == "dr_grpo") {
    // Dr. GRPO: no std, no 1/|o|; divide by the generation budget; no KL.
    c.advantages.estimator = AdvantageEstimator::kMeanCentered;
    c.loss.aggregation = LossAggregation::kSeqMeanTokenSumNorm;
    c.loss.clip_low = c.loss.clip_high = 0.2;
    c.loss.kl_coef = 0.0;
  } else if (name == "dapo") {
    // DAPO: clip-higher, token-level mean, dynamic sampling, overlong filtering/punishment, no KL.
    c.advantages.estimator = AdvantageEstimator::kGroupNorm;
    c.loss.aggregation = LossAggregation::kTokenMean;
    c.loss.clip_low = 0.2;
    c.loss.clip_high = 0.28;
    c.loss.kl_coef = 0.0;
    c.drop_equal_groups = true;
  } else if (name == "gspo") {
    // GSPO: sequence-level length-normalised ratio with a very narrow clip range.
    c.advantages.estimator = AdvantageEstimator::kGroupNorm;
    c.loss.ratio = RatioLevel::kSequence;
    c.loss.aggregation = LossAggregation::kSeqMeanTokenMean;
    c.loss.clip_low = 3e-4;
    c.loss.clip_high = 4e-4;
    c.loss.kl_coef = 0.0;
  } else {
    throw Error("unknown algorithm preset '" + name + "' (allowed: grpo, dr_grpo, dapo, gspo)");
  }
  return c;
}

namespace {

using nlohmann::json;

std::string type_name(const json& v) { return v.type_name(); }

double get_number(const json& v, const std::string& file, const std::string& key) {
  if (!v.is_number()) throw file_error(file, "algorithm." + key, "expected a number, got " + type_name(v));
  return v.get<double>();
}

bool get_bool(const json& v, const std::string& file, const std::string& key) {
  if (!v.is_boolean()) throw file_error(file, "algorithm." + key, "expected true or false, got " + type_name(v));
  return v.get<bool>();
}

std::string get_string(const json& v, const std::string& file, const std::string& key) {
  if (!v.is_string()) throw file_error(file, "algorithm." + key, "expected a string, got " + type_name(v));
  return v.get<std::string>();
}

void require_range(double x, double lo, double hi, const std::string& file, const std::string& key,
                   const std::string& rule) {
  if (!(x >= lo && x <= hi))
    throw file_error(file, "algorithm." + key, "value " + std::to_string(x) + " out of range (" + rule + ")");
}

}  // namespace

AlgorithmConfig parse_algorithm_config(const json& section, const std::string& file, long max_new_tokens) {
  if (!section.is_object()) throw file_error(file, "algorithm", "expected an object, got " + type_name(section));
  std::string preset = "grpo";
  if (section.contains("preset")) preset = get_string(section["preset"], file, "preset");
  AlgorithmConfig c;
  try {
    c = algorithm_preset(preset);
  } catch (const Error& e) {
    throw file_error(file, "algorithm.preset", e.what());
  }

  using Setter = std::function<void(const json&, const std::string&)>;
  const std::map<std::string, Setter> setters = {
      {"preset", [](const json&, const std::string&) {}},
      {"advantage",
       [&](const json& v, const std::string& k) {
         try {
           c.advantages.estimator = parse_advantage_estimator(get_string(v, file, k));
         } catch (const Error& e) {
           throw file_error(file, "algorithm." + k, e.what());
         }
       }},
      {"std_eps",
       [&](const json& v, const std::string& k) {
         c.advantages.std_eps = get_number(v, file, k);
         require_range(c.advantages.std_eps, 0, 1, file, k, "0 <= std_eps <= 1");
       }},
      {"ratio",
       [&](const json& v, const std::string& k) {
         try {
           c.loss.ratio = parse_ratio_level(get_string(v, file, k));
         } catch (const Error& e) {
           throw file_error(file, "algorithm." + k, e.what());
         }
       }},
      {"clip_low",
       [&](const json& v, const std::string& k) {
         c.loss.clip_low = get_number(v, file, k);
         require_range(c.loss.clip_low, 0, 0.999999, file, k, "0 <= clip_low < 1");
       }},
      {"clip_high",
       [&](const json& v, const std::string& k) {
         c.loss.clip_high = get_number(v, file, k);
         require_range(c.loss.clip_high, 0, 1e6, file, k, "clip_high >= 0");
       }},
      {"loss_agg",
       [&](const json& v, const std::string& k) {
         try {
           c.loss.aggregation = parse_loss_aggregation(get_string(v, file, k));
         } catch (const Error& e) {
           throw file_error(file, "algorithm." + k, e.what());
         }
       }},
      {"loss_agg_constant",
       [&](const json& v, const std::string& k) {
         c.loss.aggregation_constant = get_number(v, file, k);
         require_range(c.loss.aggregation_constant, 0, 1e12, file, k, "0 (= rollout.max_new_tokens) or > 0");
       }},
      {"kl_coef",
       [&](const json& v, const std::string& k) {
         c.loss.kl_coef = get_number(v, file, k);
         require_range(c.loss.kl_coef, 0, 1e6, file, k, "kl_coef >= 0");
       }},
      {"kl_estimator",
       [&](const json& v, const std::string& k) {
         try {
           c.loss.kl_estimator = parse_kl_estimator(get_string(v, file, k));
         } catch (const Error& e) {
           throw file_error(file, "algorithm." + k, e.what());
         }
       }},
      {"tis_cap",
       [&](const json& v, const std::string& k) {
         c.loss.tis_cap = get_number(v, file, k);
         require_range(c.loss.tis_cap, 0, 1e6, file, k, "0 (off) or > 1, typically 2");
       }},
      {"drop_equal_groups", [&](const json& v, const std::string& k) { c.drop_equal_groups = get_bool(v, file, k); }},
      {"refill_rounds",
       [&](const json& v, const std::string& k) {
         const double x = get_number(v, file, k);
         require_range(x, 0, 63, file, k, "an integer 0 <= refill_rounds <= 63");
         if (x != static_cast<double>(static_cast<long>(x)))
           throw file_error(file, "algorithm." + k, "expected an integer");
         c.refill_rounds = static_cast<long>(x);
       }},
      {"mask_truncated", [&](const json& v, const std::string& k) { c.mask_truncated = get_bool(v, file, k); }},
      {"overlong_cache",
       [&](const json& v, const std::string& k) {
         double x = get_number(v, file, k);
         require_range(x, 0, static_cast<double>(max_new_tokens), file, k,
                       "0 <= overlong_cache <= rollout.max_new_tokens");
         c.overlong_cache = static_cast<long>(x);
       }},
  };
  for (const auto& [key, value] : section.items()) {
    auto it = setters.find(key);
    if (it == setters.end()) {
      std::string allowed;
      for (const auto& [name, _] : setters) allowed += (allowed.empty() ? "" : ", ") + name;
      throw file_error(file, "algorithm." + key, "unknown key (allowed: " + allowed + ")");
    }
    it->second(value, key);
  }
  // Dr. GRPO divides by the generation budget unless the recipe names another constant.
  if (c.loss.aggregation == LossAggregation::kSeqMeanTokenSumNorm && c.loss.aggregation_constant <= 0)
    c.loss.aggregation_constant = static_cast<double>(max_new_tokens);
  return c;
}

nlohmann::json to_json(const AlgorithmConfig& c) {
  return {{"preset", c.preset},
          {"advantage", to_string(c.advantages.estimator)},
          {"std_eps", c.advantages.std_eps},
          {"ratio", to_string(c.loss.ratio)},
          {"clip_low", c.loss.clip_low},
          {"clip_high", c.loss.clip_high},
          {"loss_agg", to_string(c.loss.aggregation)},
          {"loss_agg_constant", c.loss.aggregation_constant},
          {"kl_coef", c.loss.kl_coef},
          {"kl_estimator", to_string(c.loss.kl_estimator)},
          {"tis_cap", c.loss.tis_cap},
          {"drop_equal_groups", c.drop_equal_groups},
          {"refill_rounds", c.refill_rounds},
          {"mask_truncated", c.mask_truncated},
          {"overlong_cache", c.overlong_cache}};
}

}  // namespace grpo::learner
