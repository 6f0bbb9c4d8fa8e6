// grpo_ref: C++ entry points that the Python reference tests (tests/reference/test_*.py) drive.
// Each tools/*.cpp registers subcommands with GRPO_REF_TOOL; main.cpp dispatches.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace grpo::ref {

using ToolFn = std::function<int(const std::vector<std::string>& args)>;
void register_tool(const std::string& name, ToolFn fn);

struct ToolRegistrar {
  ToolRegistrar(const std::string& name, ToolFn fn) { register_tool(name, std::move(fn)); }
};

}  // namespace grpo::ref

#define GRPO_REF_CONCAT_INNER(a, b) a##b
#define GRPO_REF_CONCAT(a, b) GRPO_REF_CONCAT_INNER(a, b)
#define GRPO_REF_TOOL(name, fn) static ::grpo::ref::ToolRegistrar GRPO_REF_CONCAT(grpo_ref_tool_, __LINE__)(name, fn)
