// A small flag parser for the subcommands: declared flags only, so a typo is an error
// that names the flag instead of being silently ignored.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace grpo::cli {

// Bad command line: printed as one line, exit code 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

struct Flag {
  std::string name;  // "--max-new-tokens"
  bool takes_value = true;
  std::string help;
};

class Args {
 public:
  // Parses `argv` (the words after the subcommand) against `flags`. `--name=value` and
  // `--name value` both work. Throws UsageError for an unknown flag or a missing value.
  Args(const std::string& command, const std::vector<Flag>& flags, const std::vector<std::string>& argv);

  bool has(const std::string& name) const;
  std::string get(const std::string& name, const std::string& fallback) const;
  std::string require(const std::string& name) const;
  long long get_int(const std::string& name, long long fallback) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // The positional argument at `index`, which must exist; `what` names it in the error.
  std::string positional_at(size_t index, const std::string& what) const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Throws UsageError "PATH: no such file" unless `path` exists (file or folder).
void require_exists(const std::string& path, const std::string& what);

// True when argv asks for help (-h or --help anywhere).
bool wants_help(const std::vector<std::string>& argv);

}  // namespace grpo::cli
