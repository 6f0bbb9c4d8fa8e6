#include "rewards/reward_inputs.h"

#include "common/error.h"
#include "common/jsonl.h"
#include "rewards/reward_sample.h"

namespace grpo::rewards {
namespace {

using nlohmann::json;

// A row's or a completion line's own finish reason, "stop" when it has none.
std::string finish_reason_of(const json& j) {
  const auto it = j.find("finish_reason");
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string("stop");
}

// Builds the groups: with --completions, k completions per row; else the rows' own
// completions, consecutive rows with equal prompts grouped.
std::vector<SampleGroup> build_groups(const std::string& data_path, const std::vector<JsonlLine>& lines,
                                      const std::string& comp_path, const std::vector<JsonlLine>* comp_lines) {
  std::vector<SampleGroup> groups;
  std::vector<json> rows;
  for (const auto& l : lines) {
    if (!l.value.is_object())
      throw file_error(data_path, "line " + std::to_string(l.line), "must be a JSON object with the row's fields");
    rows.push_back(l.value);
  }
  std::vector<json> completion_values;
  if (comp_lines)
    for (const auto& l : *comp_lines) completion_values.push_back(l.value);
  const std::vector<json>* completions = comp_lines ? &completion_values : nullptr;
  if (completions) {
    if (rows.empty() || completions->empty() || completions->size() % rows.size() != 0)
      throw file_error(comp_path, "",
                       std::to_string(completions->size()) + " completions for " + std::to_string(rows.size()) +
                           " data rows; expected a multiple of the row count (k completions per row)");
    const size_t k = completions->size() / rows.size();
    for (size_t r = 0; r < rows.size(); ++r) {
      SampleGroup group;
      for (size_t c = 0; c < k; ++c) {
        const json& line = (*completions)[r * k + c];
        if (line.is_string()) {
          group.push_back(reward_sample(rows[r], line.get<std::string>(), finish_reason_of(rows[r])));
        } else if (line.is_object() && line.contains("completion") && line["completion"].is_string()) {
          group.push_back(reward_sample(rows[r], line["completion"].get<std::string>(),
                                        finish_reason_of(line.contains("finish_reason") ? line : rows[r])));
        } else {
          throw file_error(comp_path, "line " + std::to_string((*comp_lines)[r * k + c].line),
                           "expected a JSON string or an object with a string `completion`");
        }
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].contains("completion") || !rows[i]["completion"].is_string())
      throw file_error(data_path, "line " + std::to_string(lines[i].line) + ": completion",
                       "missing or not a string; give each row a `completion` or pass --completions FILE.jsonl");
    json sample = reward_sample(rows[i], rows[i]["completion"].get<std::string>(), finish_reason_of(rows[i]));
    const bool same_prompt =
        !groups.empty() && groups.back().back().value("prompt", json()) == sample.value("prompt", json());
    if (!same_prompt) groups.emplace_back();
    groups.back().push_back(std::move(sample));
  }
  return groups;
}

}  // namespace

// Rows nested past the scorer's own limit (kMaxJsonDepth) get a per-row error there; past this
// one the whole file is refused here, before a recursive copy could overflow the stack.
constexpr int kMaxRowDepth = 4096;

std::vector<SampleGroup> sample_groups_from_files(const std::string& data_path, const std::string& completions_path) {
  const auto rows = read_jsonl(data_path, BadJsonlLine::kThrow, kMaxRowDepth);
  if (completions_path.empty()) return build_groups(data_path, rows, completions_path, nullptr);
  const auto completions = read_jsonl(completions_path, BadJsonlLine::kThrow, kMaxRowDepth);
  return build_groups(data_path, rows, completions_path, &completions);
}

}  // namespace grpo::rewards
