#include "actor/launch/launch_env.h"

#include <cstdlib>

#include "common/error.h"

namespace grpo::actor {
namespace {

int parse_int(const EnvLookup& env, const std::string& name, int fallback, bool required = false) {
  auto v = env(name);
  if (!v || v->empty()) {
    if (required) throw Error("environment variable " + name + " is not set (the launcher should set it)");
    return fallback;
  }
  try {
    size_t used = 0;
    long x = std::stol(*v, &used);
    if (used == v->size() && x >= 0 && x <= 1'000'000) return static_cast<int>(x);
  } catch (const std::exception&) {
  }
  throw Error("environment variable " + name + "='" + *v + "' is not a non-negative integer");
}

bool all_set(const EnvLookup& env, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (!env(n)) return false;
  return true;
}

// SLURM_STEP_TASKS_PER_NODE / SLURM_TASKS_PER_NODE look like "4(x2),3": take the first count.
int first_task_count(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) ++i;
  return i ? std::atoi(s.substr(0, i).c_str()) : 0;
}

void validate(const LaunchEnv& e, const std::string& rank_var, const std::string& world_var) {
  if (e.world_size < 1) throw Error("environment variable " + world_var + " must be at least 1");
  if (e.rank >= e.world_size)
    throw Error("environment variable " + rank_var + "=" + std::to_string(e.rank) + " is not below " + world_var + "=" +
                std::to_string(e.world_size));
  if (e.local_world_size < 1 || e.local_rank >= e.local_world_size)
    throw Error("local rank " + std::to_string(e.local_rank) + " is not below the local world size " +
                std::to_string(e.local_world_size) + " (" + e.launcher + " environment)");
  if (e.master_port < 1 || e.master_port > 65535)
    throw Error("master port " + std::to_string(e.master_port) + " is outside 1..65535 (" + e.launcher +
                " environment)");
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

EnvLookup map_env(const std::map<std::string, std::string>& vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

std::string first_slurm_host(const std::string& nodelist) {
  // The first entry ends at a comma outside brackets.
  size_t depth = 0, end = nodelist.size();
  for (size_t i = 0; i < nodelist.size(); ++i) {
    if (nodelist[i] == '[')
      ++depth;
    else if (nodelist[i] == ']' && depth)
      --depth;
    else if (nodelist[i] == ',' && depth == 0) {
      end = i;
      break;
    }
  }
  // Each bracket group ("[07-09,12]") contributes its first value.
  std::string entry = nodelist.substr(0, end), host;
  size_t i = 0;
  while (i < entry.size()) {
    auto open = entry.find('[', i);
    if (open == std::string::npos) {
      host += entry.substr(i);
      break;
    }
    auto close = entry.find(']', open);
    if (close == std::string::npos) throw Error("SLURM_JOB_NODELIST='" + nodelist + "' has an unclosed '['");
    std::string inner = entry.substr(open + 1, close - open - 1);
    host += entry.substr(i, open - i) + inner.substr(0, inner.find_first_of(",-"));
    i = close + 1;
  }
  return host;
}

LaunchEnv detect_launch_env(const EnvLookup& env) {
  LaunchEnv e;
  if (env("GRPO_RANK") || env("GRPO_WORLD_SIZE")) {
    e.launcher = "grpo";
    e.rank = parse_int(env, "GRPO_RANK", 0, true);
    e.world_size = parse_int(env, "GRPO_WORLD_SIZE", 1, true);
    e.local_rank = parse_int(env, "GRPO_LOCAL_RANK", e.rank);
    e.local_world_size = parse_int(env, "GRPO_LOCAL_WORLD_SIZE", e.world_size);
    e.master_addr = env("GRPO_MASTER_ADDR").value_or("127.0.0.1");
    e.master_port = parse_int(env, "GRPO_MASTER_PORT", 29500);
    validate(e, "GRPO_RANK", "GRPO_WORLD_SIZE");
  } else if (all_set(env, {"RANK", "WORLD_SIZE", "LOCAL_RANK"})) {
    e.launcher = "torchrun";
    e.rank = parse_int(env, "RANK", 0, true);
    e.world_size = parse_int(env, "WORLD_SIZE", 1, true);
    e.local_rank = parse_int(env, "LOCAL_RANK", 0, true);
    e.local_world_size = parse_int(env, "LOCAL_WORLD_SIZE", e.world_size);
    e.node_rank = parse_int(env, "GROUP_RANK", 0);
    e.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
    e.master_port = parse_int(env, "MASTER_PORT", 29500);
    validate(e, "RANK", "WORLD_SIZE");
  } else if (env("SLURM_PROCID")) {
    e.launcher = "slurm";
    e.rank = parse_int(env, "SLURM_PROCID", 0, true);
    e.world_size = parse_int(env, "SLURM_NTASKS", 1, true);
    e.local_rank = parse_int(env, "SLURM_LOCALID", 0);
    e.node_rank = parse_int(env, "SLURM_NODEID", 0);
    std::string per_node = env("SLURM_STEP_TASKS_PER_NODE").value_or(env("SLURM_TASKS_PER_NODE").value_or(""));
    e.local_world_size =
        per_node.empty() ? parse_int(env, "SLURM_NTASKS_PER_NODE", e.world_size) : first_task_count(per_node);
    if (auto addr = env("MASTER_ADDR"))
      e.master_addr = *addr;
    else if (auto nodes = env("SLURM_JOB_NODELIST").has_value() ? env("SLURM_JOB_NODELIST") : env("SLURM_NODELIST"))
      e.master_addr = first_slurm_host(*nodes);
    else
      e.master_known = false;
    // Derive the port from the job id so two jobs sharing a node do not collide.
    e.master_port = env("MASTER_PORT") ? parse_int(env, "MASTER_PORT", 29500)
                                       : 20000 + parse_int(env, "SLURM_JOB_ID", 9500) % 20000;
    validate(e, "SLURM_PROCID", "SLURM_NTASKS");
  } else if (env("OMPI_COMM_WORLD_RANK")) {
    e.launcher = "openmpi";
    e.rank = parse_int(env, "OMPI_COMM_WORLD_RANK", 0, true);
    e.world_size = parse_int(env, "OMPI_COMM_WORLD_SIZE", 1, true);
    e.local_rank = parse_int(env, "OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_world_size = parse_int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", e.world_size);
    e.master_known = env("MASTER_ADDR").has_value();
    e.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
    e.master_port = parse_int(env, "MASTER_PORT", 29500);
    validate(e, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE");
  } else if (env("PMI_RANK")) {
    e.launcher = "pmi";
    e.rank = parse_int(env, "PMI_RANK", 0, true);
    e.world_size = parse_int(env, "PMI_SIZE", 1, true);
    e.local_rank = parse_int(env, "MPI_LOCALRANKID", 0);
    e.local_world_size = parse_int(env, "MPI_LOCALNRANKS", e.world_size);
    e.master_known = env("MASTER_ADDR").has_value();
    e.master_addr = env("MASTER_ADDR").value_or("127.0.0.1");
    e.master_port = parse_int(env, "MASTER_PORT", 29500);
    validate(e, "PMI_RANK", "PMI_SIZE");
  }
  return e;
}

}  // namespace grpo::actor
