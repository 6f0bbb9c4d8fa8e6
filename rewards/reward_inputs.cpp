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
// completions, consecutive rows with equal prompts grouped. Rows are read in place: each is
// copied once, into its sample.
std::vector<SampleGroup> build_groups(const std::string& data_path, const std::vector<JsonlLine>& rows,
                                      const std::string& comp_path, const std::vector<JsonlLine>* completions) {
  std::vector<SampleGroup> groups;
  for (const auto& r : rows)
    if (!r.value.is_object())
      throw file_error(data_path, "line " + std::to_string(r.line), "must be a JSON object with the row's fields");
  if (completions) {
    if (rows.empty() || completions->empty() || completions->size() % rows.size() != 0)
      throw file_error(comp_path, "",
                       std::to_string(completions->size()) + " completions for " + std::to_string(rows.size()) +
                           " data rows; expected a multiple of the row count (k completions per row)");
    const size_t k = completions->size() / rows.size();
    for (size_t r = 0; r < rows.size(); ++r) {
      const json& row = rows[r].value;
      SampleGroup group;
      for (size_t c = 0; c < k; ++c) {
        const JsonlLine& line = (*completions)[r * k + c];
        const json& v = line.value;
        if (v.is_string()) {
          group.push_back(reward_sample(row, v.get<std::string>(), finish_reason_of(row)));
        } else if (v.is_object() && v.contains("completion") && v["completion"].is_string()) {
          group.push_back(reward_sample(row, v["completion"].get<std::string>(),
                                        finish_reason_of(v.contains("finish_reason") ? v : row)));
        } else {
          throw file_error(comp_path, "line " + std::to_string(line.line),
                           "expected a JSON string or an object with a string `completion`");
        }
      }
      groups.push_back(std::move(group));
    }
    return groups;
  }
  for (const auto& r : rows) {
    const json& row = r.value;
    if (!row.contains("completion") || !row["completion"].is_string())
      throw file_error(data_path, "line " + std::to_string(r.line) + ": completion",
                       "missing or not a string; give each row a `completion` or pass --completions FILE.jsonl");
    json sample = reward_sample(row, row["completion"].get<std::string>(), finish_reason_of(row));
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
