// JSONL (one JSON value per line) as every file the program reads in that form is read: prompt
// files, SFT data, `grpo reward` inputs, a run's metrics. The one reader, so every bad line gets
// the same error naming the file and the line.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace grpo {

struct JsonlLine {
  nlohmann::json value;
  int line = 0;  // 1-based line number in the file
};

enum class BadJsonlLine {
  kThrow,  // a line that is not JSON throws file_error(path, "line N", ...)
  kSkip,   // such lines are left out (a run's own logs, whose last line a kill may have cut)
};

// Values nested deeper than this are bad lines: the parser is iterative, but copying, comparing
// and printing a JSON value recurse, so a hostile row 100,000 levels deep would overflow the
// stack of whatever touched it next. (The reward sandbox allows 200 levels: rewards/lua_json.h.)
constexpr int kMaxJsonlDepth = 256;

// Blank lines are skipped. A missing file throws file_error, as read_file does.
// `max_depth`: a reader whose consumer checks depth itself (the reward scorer gives a row nested
// past its own limit a per-row error) may allow more, up to what the stack holds.
std::vector<JsonlLine> read_jsonl(const std::string& path, BadJsonlLine bad = BadJsonlLine::kThrow,
                                  int max_depth = kMaxJsonlDepth);
// The same over text already in memory; `source` names it in errors.
std::vector<JsonlLine> parse_jsonl(const std::string& text, const std::string& source,
                                   BadJsonlLine bad = BadJsonlLine::kThrow, int max_depth = kMaxJsonlDepth);

}  // namespace grpo
