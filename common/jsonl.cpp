#include "common/jsonl.h"

#include <sstream>

#include "common/atomic_file.h"
#include "common/error.h"

namespace grpo {

std::vector<JsonlLine> parse_jsonl(const std::string& text, const std::string& source, BadJsonlLine bad) {
  std::istringstream in(text);
  std::vector<JsonlLine> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json value = nlohmann::json::parse(line, nullptr, false);
    if (value.is_discarded()) {
      if (bad == BadJsonlLine::kSkip) continue;
      throw file_error(source, "line " + std::to_string(n), "is not valid JSON (one JSON value per line expected)");
    }
    rows.push_back({std::move(value), n});
  }
  return rows;
}

std::vector<JsonlLine> read_jsonl(const std::string& path, BadJsonlLine bad) {
  return parse_jsonl(read_file(path), path, bad);
}

}  // namespace grpo
