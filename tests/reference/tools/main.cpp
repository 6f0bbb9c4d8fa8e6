#include <cstdio>
#include <exception>
#include <map>

#include "ref_tool.h"

namespace grpo::ref {
namespace {
std::map<std::string, ToolFn>& tools() {
  static std::map<std::string, ToolFn> registry;
  return registry;
}
}  // namespace
void register_tool(const std::string& name, ToolFn fn) { tools()[name] = std::move(fn); }
}  // namespace grpo::ref

int main(int argc, char** argv) {
  auto& tools = grpo::ref::tools();
  if (argc < 2 || !tools.count(argv[1])) {
    std::fprintf(stderr, "usage: grpo_ref TOOL ARGS...\ntools:");
    for (auto& [name, fn] : tools) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  try {
    return tools[argv[1]](std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo_ref %s: %s\n", argv[1], e.what());
    return 1;
  }
}
