#include "cli/args.h"

#include <filesystem>

namespace grpo::cli {

Args::Args(const std::string& command, const std::vector<Flag>& flags, const std::vector<std::string>& argv)
    : command_(command) {
  auto find = [&](const std::string& name) -> const Flag* {
    for (const auto& f : flags)
      if (f.name == name) return &f;
    return nullptr;
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& word = argv[i];
    if (word.size() < 2 || word[0] != '-' || word == "-") {
      positional_.push_back(word);
      continue;
    }
    if (word == "--") {
      positional_.insert(positional_.end(), argv.begin() + static_cast<long>(i) + 1, argv.end());
      break;
    }
    std::string name = word, value;
    bool inline_value = false;
    if (auto eq = word.find('='); eq != std::string::npos) {
      name = word.substr(0, eq);
      value = word.substr(eq + 1);
      inline_value = true;
    }
    const Flag* flag = find(name);
    if (!flag) {
      std::string known;
      for (const auto& f : flags) known += (known.empty() ? "" : ", ") + f.name;
      throw UsageError("unknown flag " + name + " (known: " + (known.empty() ? "none" : known) + "; see `grpo " +
                       command_ + " --help`)");
    }
    if (flag->takes_value) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) throw UsageError("flag " + name + " needs a value");
        value = argv[++i];
      }
    } else if (inline_value) {
      throw UsageError("flag " + name + " takes no value");
    }
    values_[name] = value;
  }
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

std::string Args::require(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw UsageError("missing required flag " + name + " (see `grpo " + command_ + " --help`)");
  return it->second;
}

long long Args::get_int(const std::string& name, long long fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("flag " + name + " expects an integer, got '" + it->second + "'");
}

double Args::get_double(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  try {
    size_t used = 0;
    double v = std::stod(it->second, &used);
    if (used == it->second.size()) return v;
  } catch (const std::exception&) {
  }
  throw UsageError("flag " + name + " expects a number, got '" + it->second + "'");
}

std::string Args::positional_at(size_t index, const std::string& what) const {
  if (index >= positional_.size()) throw UsageError("missing " + what + " (see `grpo " + command_ + " --help`)");
  return positional_[index];
}

void require_exists(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw UsageError(path + ": no such file or folder (" + what + ")");
}

bool wants_help(const std::vector<std::string>& argv) {
  for (const auto& a : argv)
    if (a == "-h" || a == "--help") return true;
  return false;
}

}  // namespace grpo::cli
