#include "common/error.h"

namespace grpo {

Error file_error(const std::string& file, const std::string& field, const std::string& problem) {
  std::string message;
  if (!file.empty()) message += file + ": ";
  if (!field.empty()) message += field + ": ";
  message += problem;
  return Error(message);
}

}  // namespace grpo
