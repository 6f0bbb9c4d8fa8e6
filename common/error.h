// Errors that carry context: which file, which field, what was expected, how to fix it.
#pragma once

#include <stdexcept>
#include <string>

namespace grpo {

// A user-facing error: bad input (recipe, dataset row, checkpoint, message, script).
// The message is meant to be printed as is, on one line.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Error about a field of a file: "<file>: <field>: <problem>".
// Empty parts are left out, so callers can pass what they know.
Error file_error(const std::string& file, const std::string& field, const std::string& problem);

}  // namespace grpo

// Internal invariant check that reports file:line and the failed condition.
// Use for programming errors, not for bad user input (throw grpo::Error for that).
#define GRPO_CHECK(cond, msg)                                                                            \
  do {                                                                                                   \
    if (!(cond))                                                                                         \
      throw ::grpo::Error(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": check `" + #cond + \
                          "` failed: " + (msg));                                                         \
  } while (0)
