// The subcommand registry of the `grpo` program. Each subcommand lives in its own
// cli/cmd_<name>.cpp and registers itself with GRPO_COMMAND, so main.cpp never changes.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace grpo::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `grpo --help`
  std::string usage;    // full text for `grpo NAME --help`
  // Runs with the arguments after the subcommand name; returns the exit code.
  // nullptr: not built yet (the program says so and exits 2).
  std::function<int(const std::vector<std::string>&)> run;
  int order = 100;  // position in `grpo --help`
};

std::vector<Command>& registry();

struct Registrar {
  explicit Registrar(Command command) { registry().push_back(std::move(command)); }
};

}  // namespace grpo::cli

#define GRPO_CONCAT_INNER(a, b) a##b
#define GRPO_CONCAT(a, b) GRPO_CONCAT_INNER(a, b)
#define GRPO_COMMAND(...) \
  static ::grpo::cli::Registrar GRPO_CONCAT(grpo_command_registrar_, __LINE__)(::grpo::cli::Command{__VA_ARGS__})
