#include "actor/evaluate.h"

#include <cstdio>
#include <map>

#include "rewards/reward_sample.h"
#include "rollout/generator.h"

namespace grpo::actor {

using nlohmann::json;

namespace {

bool solved(const rewards::SampleResult& r) {
  if (r.failed() || !r.applicable()) return false;
  auto it = r.metrics.find("correct");
  return it != r.metrics.end() ? it->second > 0.5 : r.score > 0;
}

std::string level_of(const json& row) {
  if (!row.contains("difficulty")) return "-";
  return row["difficulty"].is_string() ? row["difficulty"].get<std::string>() : row["difficulty"].dump();
}

}  // namespace

EvalReport evaluate(model::CausalLM& lm, const Tokenizer* tokenizer, const std::vector<PromptRow>& prompts,
                    rewards::Scorer& scorer, const EvalOptions& options) {
  torch::NoGradGuard no_grad;
  lm->eval();
  rollout::GeneratorOptions gen;
  gen.eos_token_ids = lm->config.eos_token_ids;
  gen.decode = [&](const std::vector<int64_t>& ids) {
    if (tokenizer) return tokenizer->decode(ids);
    std::string s;
    for (auto id : ids) s += (s.empty() ? "" : " ") + std::to_string(id);
    return s;
  };
  // Greedy (G = 1, T = 0) and sampled (G = K) requests for every prompt, in one batch each.
  std::vector<rollout::GenerationRequest> greedy, sampled;
  for (size_t i = 0; i < prompts.size(); ++i) {
    rollout::GenerationRequest r;
    r.prompt = prompts[i].tokens;
    r.max_new_tokens = options.max_new_tokens;
    r.stop = options.stop;
    r.sampling.temperature = 0.0;
    greedy.push_back(r);
    r.group_size = options.samples;
    r.sampling.temperature = options.temperature;
    r.sampling.seed = options.seed * 1000003u + i;
    sampled.push_back(r);
  }
  auto score = [&](const std::vector<rollout::GenerationResult>& results) {
    std::vector<rewards::SampleGroup> groups;
    for (size_t i = 0; i < results.size(); ++i) {
      rewards::SampleGroup g;
      for (const auto& c : results[i].completions)
        g.push_back(rewards::reward_sample(prompts[i].row, gen.decode(c.tokens), c.finish_reason));
      groups.push_back(std::move(g));
    }
    return scorer.score(groups);
  };
  const auto greedy_out = rollout::generate(lm, greedy, gen);
  const auto greedy_scores = score(greedy_out);
  const auto sampled_out = rollout::generate(lm, sampled, gen);
  const auto sampled_scores = score(sampled_out);

  struct Acc {
    size_t n = 0;
    double pass1 = 0, mean_k = 0, pass_k = 0, length = 0;
  };
  std::map<std::string, Acc> by_level;
  EvalReport report;
  report.k = options.samples;
  report.examples = json::array();
  for (size_t i = 0; i < prompts.size(); ++i) {
    Acc& a = by_level[level_of(prompts[i].row)];
    Acc& all = by_level["~all"];  // sorts last
    // A request that failed (e.g. a prompt longer than the context) counts as unsolved.
    const bool g_ok = !greedy_scores.groups[i].empty() && solved(greedy_scores.groups[i][0]);
    double k_solved = 0;
    for (const auto& r : sampled_scores.groups[i]) k_solved += solved(r);
    const double len = greedy_out[i].completions.empty() ? 0.0 : greedy_out[i].completions[0].tokens.size();
    for (Acc* x : {&a, &all}) {
      x->n += 1;
      x->pass1 += g_ok;
      x->mean_k += k_solved / static_cast<double>(options.samples);
      x->pass_k += k_solved > 0;
      x->length += len;
    }
    if (report.examples.size() < 5 && !greedy_out[i].completions.empty())
      report.examples.push_back({{"prompt", prompts[i].row.value("prompt", "")},
                                 {"completion", gen.decode(greedy_out[i].completions[0].tokens)},
                                 {"solved", g_ok}});
  }
  for (const auto& [level, a] : by_level) {
    const double n = static_cast<double>(std::max<size_t>(a.n, 1));
    report.levels.push_back(
        {level == "~all" ? "all" : level, a.n, a.pass1 / n, a.mean_k / n, a.pass_k / n, a.length / n});
  }
  return report;
}

json EvalReport::to_json() const {
  json out = {{"k", k}, {"levels", json::array()}, {"examples", examples}};
  for (const auto& l : levels)
    out["levels"].push_back({{"level", l.level},
                             {"prompts", l.prompts},
                             {"pass@1", l.pass_at_1},
                             {"mean@" + std::to_string(k), l.mean_at_k},
                             {"pass@" + std::to_string(k), l.pass_at_k},
                             {"greedy_length", l.mean_length}});
  return out;
}

std::string EvalReport::table() const {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof line, "%-10s %8s %8s %8s %8s %10s\n", "level", "prompts", "pass@1",
                ("mean@" + std::to_string(k)).c_str(), ("pass@" + std::to_string(k)).c_str(), "greedy len");
  out += line;
  for (const auto& l : levels) {
    std::snprintf(line, sizeof line, "%-10s %8zu %7.1f%% %7.1f%% %7.1f%% %10.1f\n", l.level.c_str(), l.prompts,
                  100 * l.pass_at_1, 100 * l.mean_at_k, 100 * l.pass_at_k, l.mean_length);
    out += line;
  }
  return out;
}

}  // namespace grpo::actor
