#include "recipes/common/task_data.h"

#include <functional>
#include <random>
#include <unordered_set>

#include "common/atomic_file.h"
#include "common/error.h"
#include "recipes/code/code_tasks.h"
#include "recipes/math/math_tasks.h"

namespace grpo::recipes {

using nlohmann::json;

namespace {

// Seeds of the three streams: far apart so the sets never share a generator state.
uint64_t eval_seed(uint64_t seed) { return seed * 2654435761u + 0xE7A1u; }
uint64_t sft_seed(uint64_t seed) { return seed * 2654435761u + 0x5F7u; }

// Which kind of trace SFT example `i` gets, from its own generator (stable if counts change).
std::string trace_kind(const TaskSpec& spec, uint64_t i) {
  std::mt19937_64 rng(sft_seed(spec.seed) ^ (i * 0x9E3779B97F4A7C15ull));
  const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  if (u < spec.shortcut_fraction) return "shortcut";
  if (u < spec.shortcut_fraction + spec.flawed_fraction) return "flawed";
  if (u < spec.shortcut_fraction + spec.flawed_fraction + spec.drill_fraction) return "drill";
  return "correct";
}

// Draws eval rows from their own stream, skipping any prompt the train or SFT sets contain, so
// the held-out set is held out even where a task space is small. Stops after 50 draws per row.
void add_held_out(TaskData& d, size_t count, const std::function<json(uint64_t)>& draw) {
  std::unordered_set<std::string> seen;
  for (const auto& r : d.train) seen.insert(r["prompt"].get<std::string>());
  for (const auto& e : d.sft) seen.insert(e.prompt);
  for (uint64_t i = 0; d.eval.size() < count && i < 50 * count; ++i) {
    json row = draw(i);
    if (seen.insert(row["prompt"].get<std::string>()).second) d.eval.push_back(std::move(row));
  }
  if (d.eval.size() < count)
    throw file_error(
        "recipe.json", "task.eval_prompts",
        "only " + std::to_string(d.eval.size()) + " prompts not already in the train or SFT sets exist; ask for fewer");
}

TaskData make_math_data(const TaskSpec& spec) {
  MathTaskOptions o;
  o.min_difficulty = spec.min_difficulty;
  o.max_difficulty = spec.max_difficulty;
  o.max_value = spec.max_value;
  o.max_result = spec.max_result;
  TaskData d;
  o.seed = spec.seed;
  for (const auto& t : make_math_tasks(o, spec.train_prompts)) d.train.push_back(to_json(t));
  o.seed = sft_seed(spec.seed);
  for (uint64_t i = 0; i < spec.sft_examples; ++i) {
    const MathTask t = make_math_task(o, i);
    SftExample e{t.prompt, t.solution, trace_kind(spec, i)};
    if (e.kind == "shortcut") e.completion = shortcut_solution(t);
    if (e.kind == "flawed") e.completion = t.flawed;
    if (e.kind == "drill") {
      const ArithmeticDrill d = arithmetic_drill(o, i);
      e.prompt = d.prompt;
      e.completion = d.completion;
    }
    d.sft.push_back(std::move(e));
  }
  o.seed = eval_seed(spec.seed);
  add_held_out(d, spec.eval_prompts, [&](uint64_t i) { return to_json(make_math_task(o, i)); });
  return d;
}

TaskData make_code_data(const TaskSpec& spec) {
  CodeTaskOptions o;
  o.min_difficulty = spec.min_difficulty;
  o.max_difficulty = spec.max_difficulty;
  TaskData d;
  o.seed = spec.seed;
  for (uint64_t i = 0; i < spec.train_prompts; ++i) d.train.push_back(to_json(make_code_task(o, i)));
  o.seed = sft_seed(spec.seed);
  for (uint64_t i = 0; i < spec.sft_examples; ++i) {
    const CodeTask t = make_code_task(o, i);
    SftExample e{t.prompt, t.solution, trace_kind(spec, i)};
    if (e.kind == "shortcut") e.completion = shortcut_code_solution(t);
    if (e.kind == "flawed") e.completion = flawed_code_solution(t, sft_seed(spec.seed) + i);
    if (e.kind == "drill") e.kind = "correct";  // no practice sheets for code
    d.sft.push_back(std::move(e));
  }
  o.seed = eval_seed(spec.seed);
  add_held_out(d, spec.eval_prompts, [&](uint64_t i) { return to_json(make_code_task(o, i)); });
  return d;
}

}  // namespace

TaskSpec task_spec_from_json(const json& t) {
  TaskSpec s;
  s.family = t.at("family").get<std::string>();
  s.seed = t.at("seed").get<uint64_t>();
  s.train_prompts = t.at("train_prompts").get<size_t>();
  s.eval_prompts = t.at("eval_prompts").get<size_t>();
  s.sft_examples = t.at("sft_examples").get<size_t>();
  s.min_difficulty = t.at("min_difficulty").get<int>();
  s.max_difficulty = t.at("max_difficulty").get<int>();
  s.max_value = t.at("max_value").get<int>();
  s.max_result = t.at("max_result").get<int>();
  s.shortcut_fraction = t.at("shortcut_fraction").get<double>();
  s.flawed_fraction = t.at("flawed_fraction").get<double>();
  s.drill_fraction = t.at("drill_fraction").get<double>();
  return s;
}

TaskData make_task_data(const TaskSpec& spec) {
  if (spec.shortcut_fraction + spec.flawed_fraction + spec.drill_fraction > 1.0)
    throw file_error("recipe.json", "task.shortcut_fraction",
                     "plus task.flawed_fraction and task.drill_fraction exceeds 1");
  if (spec.family == "math") return make_math_data(spec);
  if (spec.family == "code") return make_code_data(spec);
  throw file_error("recipe.json", "task.family", "unknown task family '" + spec.family + "' (allowed: math, code)");
}

void write_task_data(const TaskData& data, const std::string& dir) {
  auto jsonl = [](const std::vector<json>& rows) {
    std::string out;
    for (const auto& r : rows) out += r.dump() + "\n";
    return out;
  };
  std::vector<json> sft;
  for (const auto& e : data.sft) sft.push_back({{"prompt", e.prompt}, {"completion", e.completion}, {"kind", e.kind}});
  write_file_atomic(dir + "/train.jsonl", jsonl(data.train));
  write_file_atomic(dir + "/eval.jsonl", jsonl(data.eval));
  write_file_atomic(dir + "/sft.jsonl", jsonl(sft));
}

}  // namespace grpo::recipes
