// grpo: the one entry point. Dispatches to the registered subcommands (cli/cmd_*.cpp).
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/args.h"
#include "cli/command.h"

namespace grpo::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

namespace {

void print_overview() {
  auto commands = registry();
  std::sort(commands.begin(), commands.end(), [](const Command& a, const Command& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  std::printf(
      "grpo: reinforcement-learning post-training for DeepSeek-V3-architecture models\n\n"
      "usage: grpo COMMAND [ARGS...]\n       grpo COMMAND --help\n\ncommands:\n");
  for (const auto& c : commands)
    std::printf("  %-10s %s%s\n", c.name.c_str(), c.summary.c_str(), c.run ? "" : " (not built yet)");
  std::printf("\nThe README explains recipes, reward scripts and metrics.\n");
}

const Command* find_command(const std::string& name) {
  for (const auto& c : registry())
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace
}  // namespace grpo::cli

int main(int argc, char** argv) {
  using namespace grpo::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "-h" || words[0] == "--help" || words[0] == "help") {
    print_overview();
    return words.empty() ? 2 : 0;
  }
  const std::string name = words[0];
  const Command* command = find_command(name);
  if (!command) {
    std::fprintf(stderr, "grpo: unknown command '%s' (run `grpo --help` for the list)\n", name.c_str());
    return 2;
  }
  std::vector<std::string> rest(words.begin() + 1, words.end());
  if (wants_help(rest)) {
    std::printf("%s\n", command->usage.c_str());
    return 0;
  }
  if (!command->run) {
    std::fprintf(stderr, "grpo %s: not built yet in this version (see the project's open issues)\n", name.c_str());
    return 2;
  }
  try {
    return command->run(rest);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "grpo %s: %s\n", name.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "grpo %s: error: %s\n", name.c_str(), e.what());
    return 1;
  }
}
