// The samples `grpo reward` scores, from the files a user tests a script with. Errors name the
// file and the line.
#pragma once

#include <string>
#include <vector>

#include "rewards/scorer.h"

namespace grpo::rewards {

// `data_path`: JSONL rows with the fields the script reads. Without `completions_path` each row
// carries its own `completion` (and `finish_reason`), and consecutive rows with the same prompt
// form one group. With it: a JSONL file of completions (a JSON string, or an object with
// `completion` and `finish_reason`), k per data row (k x rows lines), each row's k forming a group.
std::vector<SampleGroup> sample_groups_from_files(const std::string& data_path, const std::string& completions_path);

}  // namespace grpo::rewards
