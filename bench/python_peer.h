// Runs a Python peer script of a benchmark (GRPO_PYTHON, bench/<script>) and returns the last
// JSON object it printed, or {"error": ...} with the start of its output when it failed, so the
// benchmark's table can say why the peer column is empty.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace grpo::bench {

inline nlohmann::json run_python_peer(const std::string& script, const std::string& args) {
  const std::string cmd = std::string(GRPO_PYTHON) + " " + GRPO_SOURCE_DIR + "/bench/" + script + " " + args + " 2>&1";
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return {{"error", "cannot start " GRPO_PYTHON}};
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  const int rc = ::pclose(p);
  const auto last = out.find_last_of('{');
  auto j = last == std::string::npos ? nlohmann::json() : nlohmann::json::parse(out.substr(last), nullptr, false);
  if (rc != 0 || !j.is_object()) return {{"error", out.substr(0, 400)}};
  return j;
}

}  // namespace grpo::bench
