#include "common/jsonl.h"

#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace grpo {

std::vector<JsonlLine> parse_jsonl(const std::string& text, const std::string& source, BadJsonlLine bad,
                                   int max_depth) {
  std::istringstream in(text);
  std::vector<JsonlLine> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    bool too_deep = false;
    // Values past the depth bound are dropped while parsing (returning false), so nothing deep is
    // ever built, and the line is reported.
    const nlohmann::json::parser_callback_t bound = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > max_depth) too_deep = true;
      return depth <= max_depth;
    };
    nlohmann::json value = nlohmann::json::parse(line, bound, false);
    if (value.is_discarded() || too_deep) {
      if (bad == BadJsonlLine::kSkip) continue;
      throw file_error(source, "line " + std::to_string(n),
                       too_deep ? "nests deeper than " + std::to_string(max_depth) + " levels"
                                : "is not valid JSON (one JSON value per line expected)");
    }
    rows.push_back({std::move(value), n});
  }
  return rows;
}

std::vector<JsonlLine> read_jsonl(const std::string& path, BadJsonlLine bad, int max_depth) {
  return parse_jsonl(read_file(path), path, bad, max_depth);
}

}  // namespace grpo
